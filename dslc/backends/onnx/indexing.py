"""The onnx lowerings of the indexing ops (dslc/ops/indexing.py)."""
from __future__ import annotations

from ...ops.base import axis_index
from ...ops.indexing import CumSum, Gather, IndexSelect, OneHot, Slice, TopK
from .table import lowering


def onnx_bound(b, node, ins, spec, axis: int) -> str:
    """An int64 [1] ONNX tensor for a runtime_plan entry."""
    kind, v = spec
    if kind == "const":
        return b.ints([v])
    if kind == "rel":
        size = b.node("Shape", [ins[0]], name=f"{node.name}.size", start=axis, end=axis + 1)[0]
        return size if v == 0 else b.node("Add", [size, b.ints([v])], name=f"{node.name}.bound")[0]
    from .lowering import dims_tensor
    return dims_tensor(b, node, ins, [v])


def _as_i64(b, node, name: str, k: int) -> str:
    """Input k as an int64 tensor (ONNX index inputs take int32/int64; OneHot only int64)."""
    if node.in_types[k].dtype == "i64":
        return name
    from onnx import TensorProto
    return b.node("Cast", [name], name=f"{node.name}.index_i64", to=TensorProto.INT64)[0]


@lowering.register(Gather)
def _gather(op, b, node, ins, outs):
    b.node("GatherElements", [ins[0], _as_i64(b, node, ins[1], 1)], outs, name=node.name,
           axis=axis_index(op.axis, node.in_types[0].rank, "gather"))


@lowering.register(IndexSelect)
def _index_select(op, b, node, ins, outs):
    b.node("Gather", [ins[0], _as_i64(b, node, ins[1], 1)], outs, name=node.name,
           axis=axis_index(op.axis, node.in_types[0].rank, "index_select"))


@lowering.register(Slice)
def _slice(op, b, node, ins, outs):
    ax, lo, hi = op.plan(node.in_types)
    b.node("Slice", [ins[0], onnx_bound(b, node, ins, lo, ax), onnx_bound(b, node, ins, hi, ax),
                     b.ints([ax]), b.ints([op.step])], outs, name=node.name)


@lowering.register(TopK)
def _topk(op, b, node, ins, outs):
    ax, spec = op.plan(node.in_types)
    k = onnx_bound(b, node, ins, spec, ax)
    b.node("TopK", [ins[0], k], outs, name=node.name, axis=ax, largest=int(op.largest),
           sorted=1)


@lowering.register(OneHot)
def _one_hot(op, b, node, ins, outs):
    import numpy as np

    from .builder import np_dtype, onnx_dtype
    direct = op.dtype in ("f16", "f32", "i64")     # onnxruntime's OneHot output types
    vals = b.const(np.asarray([0, 1], dtype=np_dtype(op.dtype if direct else "f32")),
                   f"{node.name}.values")
    idx = _as_i64(b, node, ins[0], 0)
    if direct:
        b.node("OneHot", [idx, b.ints([op.num_classes]), vals], outs, name=node.name, axis=-1)
        return
    hot = b.node("OneHot", [idx, b.ints([op.num_classes]), vals], name=f"{node.name}.f32",
                 axis=-1)[0]
    b.node("Cast", [hot], outs, name=node.name, to=onnx_dtype(op.dtype))


@lowering.register(CumSum)
def _cumsum(op, b, node, ins, outs):
    import numpy as np
    ax = axis_index(op.axis, node.in_types[0].rank, "cumsum")
    b.node("CumSum", [ins[0], b.const(np.asarray(ax, np.int64), f"{node.name}.axis")], outs,
           name=node.name)
