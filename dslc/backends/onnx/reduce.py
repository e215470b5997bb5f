"""The onnx lowerings of the reduce ops (dslc/ops/reduce.py)."""
from __future__ import annotations

import math
from ...ops.reduce import LogSumExp, Norm, Var, _ArgReduce, _IntegerAccumulating, _Reduce, reduced_count
from .table import lowering


def _run_time_count(b, node, ins, axes, dtype: str) -> str:
    """N as a rank-0 tensor of `dtype`: a constant when the IR knows it, else the product of
    the input's run-time sizes on the reduced axes (Shape -> Gather -> ReduceProd). Reading the
    input's own Shape works for any symbolic dim (`2*S`, `(L - 3) // 2 + 1`), where a lookup
    of bare symbols in the node's inputs would find no source for a composite size."""
    from .builder import onnx_dtype
    n = reduced_count(node.in_types[0], axes)
    if n.is_const():
        return b.scalar(n.value, dtype, f"{node.name}.count")
    shape = b.node("Shape", [ins[0]], name=f"{node.name}.shape")[0]
    sizes = b.node("Gather", [shape, b.ints(list(axes), f"{node.name}.axes")],
                   name=f"{node.name}.sizes", axis=0)[0]
    count = b.node("ReduceProd", [sizes], name=f"{node.name}.count", keepdims=0)[0]
    return b.node("Cast", [count], name=f"{node.name}.count_cast", to=onnx_dtype(dtype))[0]


def _axes_inputs(b, node, axes) -> list[str]:
    """The `axes` input of a ReduceX (opset 18+); none for a rank-0 input (reduce all: no-op)."""
    return [b.ints(list(axes), f"{node.name}.axes")] if axes else []


def _reduce(b, op_type: str, node, x: str, axes, keepdim: bool, outs=None, part: str = "") -> str:
    name = f"{node.name}.{part}" if part else node.name
    return b.node(op_type, [x] + _axes_inputs(b, node, axes), outs, name=name,
                  keepdims=int(keepdim))[0]


@lowering.register(_Reduce)
def _reduce_op(op, b, node, ins, outs):
    _reduce(b, op.onnx_type, node, ins[0], op.axes(node.in_types[0]), op.keepdim, outs)


@lowering.register(_IntegerAccumulating)
def _integer_accumulating(op, b, node, ins, outs):
    from .builder import onnx_dtype
    x = ins[0]
    if node.in_types[0].dtype != node.out_types[0].dtype:   # i32, u8, bool -> i64 first
        x = b.node("Cast", [x], name=f"{node.name}.to_i64", to=onnx_dtype("i64"))[0]
    _reduce(b, op.onnx_type, node, x, op.axes(node.in_types[0]), op.keepdim, outs)


@lowering.register(Var)
def _var(op, b, node, ins, outs):
    dtype, axes = node.in_types[0].dtype, op.axes(node.in_types[0])
    mean = _reduce(b, "ReduceMean", node, ins[0], axes, True, part="mean")
    dev = b.node("Sub", [ins[0], mean], name=f"{node.name}.dev")[0]
    squares = _reduce(b, "ReduceSumSquare", node, dev, axes, op.keepdim, part="squares")
    count = _run_time_count(b, node, ins, axes, dtype)
    if op.correction:
        count = b.node("Sub", [count, b.scalar(op.correction, dtype, f"{node.name}.correction")],
                       name=f"{node.name}.dof")[0]
    if op.kind == "var":
        b.node("Div", [squares, count], outs, name=node.name)
    else:
        var = b.node("Div", [squares, count], name=f"{node.name}.var")[0]
        b.node("Sqrt", [var], outs, name=node.name)


@lowering.register(LogSumExp)
def _log_sum_exp(op, b, node, ins, outs):
    dtype, axes, name = node.in_types[0].dtype, op.axes(node.in_types[0]), node.name
    m = _reduce(b, "ReduceMax", node, ins[0], axes, True, part="max")
    inf = b.node("IsInf", [m], name=f"{name}.is_inf")[0]
    m = b.node("Where", [inf, b.scalar(0, dtype, f"{name}.zero"), m], name=f"{name}.shift")[0]
    e = b.node("Exp", [b.node("Sub", [ins[0], m], name=f"{name}.centred")[0]],
               name=f"{name}.exp")[0]
    total = _reduce(b, "ReduceSum", node, e, axes, op.keepdim, part="sum")
    log = b.node("Log", [total], name=f"{name}.log")[0]
    if not op.keepdim and axes:
        m = b.node("Squeeze", [m, b.ints(list(axes), f"{name}.squeeze_axes")],
                   name=f"{name}.squeeze")[0]
    b.node("Add", [log, m], outs, name=name)


@lowering.register(Norm)
def _norm(op, b, node, ins, outs):
    dtype, axes, name, p = node.in_types[0].dtype, op.axes(node.in_types[0]), node.name, op.order
    if p in (1.0, 2.0):
        _reduce(b, "ReduceL1" if p == 1.0 else "ReduceL2", node, ins[0], axes, op.keepdim, outs)
        return
    a = b.node("Abs", ins, name=f"{name}.abs")[0]
    if math.isinf(p):
        _reduce(b, "ReduceMax", node, a, axes, op.keepdim, outs)
        return
    powered = b.node("Pow", [a, b.scalar(p, dtype, f"{name}.p")], name=f"{name}.pow")[0]
    total = _reduce(b, "ReduceSum", node, powered, axes, op.keepdim, part="sum")
    b.node("Pow", [total, b.scalar(1.0 / p, dtype, f"{name}.inv_p")], outs, name=name)


@lowering.register(_ArgReduce)
def _arg_reduce(op, b, node, ins, outs):
    x, rank, name = ins[0], node.in_types[0].rank, node.name
    attrs = dict(keepdims=int(op.keepdim), select_last_index=0)   # first index on ties
    if op.axis is not None:
        b.node(op.onnx_type, [x], outs, name=name, axis=op.axes(node.in_types[0])[0], **attrs)
        return
    flat = b.node("Reshape", [x, b.ints([-1], f"{name}.flat_shape")], name=f"{name}.flat")[0]
    if not op.keepdim:
        b.node(op.onnx_type, [flat], outs, name=name, axis=0, keepdims=0, select_last_index=0)
        return
    idx = b.node(op.onnx_type, [flat], name=f"{name}.index", axis=0, keepdims=0,
                 select_last_index=0)[0]
    b.node("Reshape", [idx, b.ints([1] * rank, f"{name}.kept_shape")], outs, name=name)
