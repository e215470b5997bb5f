"""The onnx lowerings of the layout ops (dslc/ops/layout.py)."""
from __future__ import annotations

from ...ops.layout import Flatten, Permute, _Reshaping
from .table import lowering


@lowering.register(_Reshaping)
def _reshaping(op, b, node, ins, outs):
    from .lowering import shape_tensor
    b.node("Reshape", [ins[0], shape_tensor(b, node, ins, op._plan(node))], outs,
           name=node.name)


@lowering.register(Flatten)
def _flatten(op, b, node, ins, outs):
    rank = node.in_types[0].rank
    # ONNX Flatten always yields [prod(dims before axis), prod(the rest)]: torch's result
    # only when the range runs from axis 1 to the end; any other range is a Reshape.
    if op.start_dim % rank == 1 and op.end_dim % rank == rank - 1:
        b.node("Flatten", ins, outs, name=node.name, axis=1)
    else:
        lowering.dispatch(_Reshaping)(op, b, node, ins, outs)


@lowering.register(Permute)
def _permute(op, b, node, ins, outs):
    b.node("Transpose", ins, outs, name=node.name, perm=op.perm(node.in_types[0].rank))
