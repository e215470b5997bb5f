"""The onnx lowerings of the combine ops (dslc/ops/combine.py)."""
from __future__ import annotations

from ...ops.combine import Concat, Split
from .table import lowering


@lowering.register(Concat)
def _concat(op, b, node, ins, outs):
    b.node("Concat", ins, outs, name=node.name, axis=op.axis)


@lowering.register(Split)
def _split(op, b, node, ins, outs):
    b.node("Split", ins, outs, name=node.name, axis=op.axis, num_outputs=op.parts)
