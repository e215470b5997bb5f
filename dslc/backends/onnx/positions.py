"""The ONNX lowerings of the position ops (dslc/ops/positions.py). Sizes the IR knows are
constants; symbolic ones are read from the inputs' shapes at run time (dims_tensor)."""
from __future__ import annotations

import numpy as np

from ...ir.dims import Dim
from ...ops.positions import (Arange, Positional, Positions, RelativeBias, Roll, WindowBias,
                              WindowMerge, WindowPartition)
from .builder import np_dtype, onnx_dtype
from .lowering import dims_tensor
from .table import lowering

_END = np.iinfo(np.int64).max
_MAX_FOLDED = 1 << 16       # a known arange of more values is a Range node, not an initializer


def _sizes(b, node, ins, dims) -> str:
    """A 1-D int64 tensor of sizes: constants, or computed from the inputs' shapes."""
    dims = [Dim.of(d) for d in dims]
    if all(d.is_const() for d in dims):
        return b.ints([d.value for d in dims], f"{node.name}.shape")
    return dims_tensor(b, node, ins, dims)


def _i64(b, node, name: str, dtype: str) -> str:
    return name if dtype == "i64" else \
        b.node("Cast", [name], name=f"{node.name}.i64", to=onnx_dtype("i64"))[0]


def _scalar(b, node, ins, d: Dim) -> str:
    """A rank-0 int64 size."""
    if d.is_const():
        return b.scalar(d.value, "i64", f"{node.name}.size")
    return b.node("Squeeze", [dims_tensor(b, node, ins, [d])], name=f"{node.name}.scalar")[0]


def _length(b, node, x: str, axis: int = 1) -> str:
    """The rank-0 int64 size of axis `axis` of x at run time."""
    s = b.node("Shape", [x], name=f"{node.name}.length", start=axis, end=axis + 1)[0]
    return b.node("Squeeze", [s], name=f"{node.name}.length0")[0]


@lowering.register(Positional)
def _positional(op, b, node, ins, outs):
    x = node.in_types[0]
    table = b.param(node, "weight") if op.encoding == "learned" else \
        b.const(op.table(x.shape[2].value).astype(np_dtype(x.dtype)), f"{node.name}.table")
    if op.positions:
        ids = _i64(b, node, ins[1], node.in_types[1].dtype)
        if op.offset:
            ids = b.node("Add", [ids, b.scalar(op.offset, "i64", f"{node.name}.offset")], name=f"{node.name}.offset")[0]
        rows = b.node("Gather", [table, ids], name=f"{node.name}.rows", axis=0)[0]
    else:
        t = b.node("Shape", [ins[0]], name=f"{node.name}.length", start=1, end=2)[0]
        start = b.ints([op.offset], f"{node.name}.shape")
        end = b.node("Add", [t, start], name=f"{node.name}.end")[0] if op.offset else t
        rows = b.node("Slice", [table, start, end, b.ints([0], f"{node.name}.shape")], name=f"{node.name}.rows")[0]
    b.node("Add", [ins[0], rows], outs, name=node.name)


@lowering.register(Arange)
def _arange(op, b, node, ins, outs):
    start, end, step = op.range()
    if start.is_const() and end.is_const() and node.out_types[0].shape[0].value <= _MAX_FOLDED:
        values = np.arange(start.value, end.value, step).astype(np_dtype(op.dtype))
        b.node("Identity", [b.const(values, f"{node.name}.values")], outs, name=node.name)
        return
    r = b.node("Range", [_scalar(b, node, ins, start), _scalar(b, node, ins, end),
                         b.scalar(step, "i64", f"{node.name}.step")],
               None if op.dtype != "i64" else outs, name=node.name)[0]
    if op.dtype != "i64":
        b.node("Cast", [r], outs, name=f"{node.name}.cast", to=onnx_dtype(op.dtype))


@lowering.register(Positions)
def _positions(op, b, node, ins, outs):
    n = node.name
    x = ins[0]
    offset = b.scalar(op.offset, "i64", f"{node.name}.offset")
    if op.mask:
        m = _i64(b, node, ins[1], node.in_types[1].dtype)
        run = b.node("CumSum", [m, b.scalar(1, "i64", f"{node.name}.axis")], name=f"{n}.cumsum")[0]
        run = b.node("Sub", [run, b.scalar(1, "i64", f"{node.name}.one")], name=f"{n}.from0")[0]
        pad = b.node("Equal", [m, b.scalar(0, "i64", f"{node.name}.zero")], name=f"{n}.padding")[0]
        pos = b.node("Where", [pad, b.scalar(1, "i64", f"{node.name}.one"), run], name=f"{n}.fill")[0]
        if node.in_types[1].shape[1] != node.in_types[0].shape[1]:    # the last T columns
            t = b.node("Shape", [x], name=f"{n}.length", start=1, end=2)[0]
            start = b.node("Neg", [t], name=f"{n}.start")[0]
            pos = b.node("Slice", [pos, start, b.ints([_END], f"{node.name}.shape"), b.ints([1], f"{node.name}.shape")], name=f"{n}.last")[0]
        b.node("Add", [pos, offset], outs, name=n)
        return
    t = _length(b, node, x)
    pos = b.node("Range", [offset, b.node("Add", [t, offset], name=f"{n}.end")[0],
                           b.scalar(1, "i64", f"{node.name}.one")], name=f"{n}.range")[0]
    pos = b.node("Unsqueeze", [pos, b.ints([0], f"{node.name}.shape")], name=f"{n}.row")[0]
    if op.past:
        past = _i64(b, node, ins[1], node.in_types[1].dtype)
        past = b.node("Reshape", [past, b.ints([-1, 1], f"{node.name}.shape")], name=f"{n}.past_column")[0]
        pos = b.node("Add", [pos, past], name=f"{n}.past")[0]
    nt = b.node("Shape", [x], name=f"{n}.shape", start=0, end=2)[0]
    b.node("Expand", [pos, nt], outs, name=n)


@lowering.register(RelativeBias)
def _relative_bias(op, b, node, ins, outs):
    n, md = node.name, op.max_distance
    tq, tk = _length(b, node, ins[0]), _length(b, node, ins[-1])
    one = b.scalar(1, "i64", f"{node.name}.one")
    key = b.node("Range", [b.scalar(0, "i64", f"{node.name}.zero"), tk, one], name=f"{n}.key")[0]
    first = b.node("Sub", [tk, tq], name=f"{n}.first")[0]
    query = b.node("Range", [first, tk, one], name=f"{n}.query")[0]
    r = b.node("Sub", [b.node("Unsqueeze", [key, b.ints([0], f"{node.name}.shape")], name=f"{n}.key_row")[0],
                       b.node("Unsqueeze", [query, b.ints([1], f"{node.name}.shape")], name=f"{n}.query_column")[0]],
               name=f"{n}.relative")[0]
    r = b.node("Clip", [r, b.scalar(-md, "i64", f"{node.name}.low"), b.scalar(md, "i64", f"{node.name}.high")],
               name=f"{n}.clip")[0]
    r = b.node("Add", [r, b.scalar(md, "i64", f"{node.name}.max_distance")], name=f"{n}.index")[0]
    bucket = b.node("Gather", [b.const(op.bucket_table(), f"{n}.buckets"), r], name=f"{n}.bucket",
                    axis=0)[0]
    values = b.node("Gather", [b.param(node, "weight"), bucket], name=f"{n}.values", axis=0)[0]
    values = b.node("Transpose", [values], name=f"{n}.heads", perm=[2, 0, 1])[0]
    b.node("Unsqueeze", [values, b.ints([0], f"{node.name}.shape")], outs, name=n)


@lowering.register(WindowBias)
def _window_bias(op, b, node, ins, outs):
    n = node.name
    values = b.node("Gather", [b.param(node, "relative_position_bias_table"),
                               b.const(op.relative_index(), f"{n}.relative_position_index")],
                    name=f"{n}.values", axis=0)[0]
    b.node("Transpose", [values], outs, name=n, perm=[2, 0, 1])


def _roll_axis(b, node, x: str, axis: int, shift: int, size: Dim, out=None) -> str:
    """x rolled by `shift` along `axis` (of size `size`): at a known size x[p:] then x[:p],
    p = -shift mod size; at a symbolic one a Gather of x at (i - shift) mod size (an ONNX Mod,
    whose result takes the divisor's sign), which keeps the other axes' sizes known to shape
    inference (a Slice at computed bounds does not)."""
    n = f"{node.name}.axis{axis}"
    if not size.is_const():
        length = _length(b, node, x, axis)
        i = b.node("Range", [b.scalar(0, "i64", f"{node.name}.zero"), length, b.scalar(1, "i64", f"{node.name}.one")],
                   name=f"{n}.positions")[0]
        i = b.node("Sub", [i, b.scalar(shift, "i64", f"{node.name}.shift")], name=f"{n}.shifted")[0]
        i = b.node("Mod", [i, length], name=f"{n}.source", fmod=0)[0]
        return b.node("Gather", [x, i], out, name=n, axis=axis)[0]
    p = (-shift) % size.value
    if p == 0:
        return b.node("Identity", [x], out, name=n)[0]
    tail = b.node("Slice", [x, b.ints([p], f"{node.name}.shape"), b.ints([_END], f"{node.name}.shape"), b.ints([axis], f"{node.name}.shape")], name=f"{n}.tail")[0]
    head = b.node("Slice", [x, b.ints([0], f"{node.name}.shape"), b.ints([p], f"{node.name}.shape"), b.ints([axis], f"{node.name}.shape")], name=f"{n}.head")[0]
    return b.node("Concat", [tail, head], out, name=n, axis=axis)[0]


@lowering.register(Roll)
def _roll(op, b, node, ins, outs):
    x = node.in_types[0]
    plan = op.plan(x)
    if plan[0][0] is None:                      # flattened, rolled, shaped back
        flat = b.node("Reshape", [ins[0], b.ints([-1], f"{node.name}.shape")], name=f"{node.name}.flat")[0]
        size = Dim.of(1)
        for d in x.shape:
            size = size * d
        rolled = _roll_axis(b, node, flat, 0, plan[0][1], size)
        shape = b.node("Shape", [ins[0]], name=f"{node.name}.shape")[0]
        b.node("Reshape", [rolled, shape], outs, name=node.name)
        return
    cur = ins[0]
    for i, (axis, shift) in enumerate(plan):
        cur = _roll_axis(b, node, cur, axis, shift, x.shape[axis],
                         outs if i == len(plan) - 1 else None)


@lowering.register(WindowPartition)
def _window_partition(op, b, node, ins, outs):
    n, h, w, c = node.in_types[0].shape
    ws = op.window
    if all(d.is_const() for d in (h, w, c)):
        sizes = _sizes(b, node, ins, [-1, h // ws, ws, w // ws, ws, c])
    else:   # read from the input's shape: its dims may be expressions (H/4) of symbols no input has
        const = lambda v: b.ints([v], f"{node.name}.shape")
        dim = lambda axis: b.node("Shape", [ins[0]], name=f"{node.name}.dim", start=axis, end=axis + 1)[0]
        per = lambda axis: b.node("Div", [dim(axis), const(ws)], name=f"{node.name}.div")[0]
        sizes = b.node("Concat", [const(-1), per(1), const(ws), per(2), const(ws), dim(3)],
                       name=f"{node.name}.sizes", axis=0)[0]
    grid = b.node("Reshape", [ins[0], sizes], name=f"{node.name}.grid")[0]
    grid = b.node("Transpose", [grid], name=f"{node.name}.windows", perm=[0, 1, 3, 2, 4, 5])[0]
    b.node("Reshape", [grid, _sizes(b, node, ins, [-1, ws * ws, c])], outs, name=node.name)


@lowering.register(WindowMerge)
def _window_merge(op, b, node, ins, outs):
    _, h, w, c = node.out_types[0].shape
    ws = op.window
    hq, wq = h // ws, w // ws
    grid = b.node("Reshape", [ins[0], _sizes(b, node, ins, [-1, hq, wq, ws, ws, c])],
                  name=f"{node.name}.grid")[0]
    grid = b.node("Transpose", [grid], name=f"{node.name}.rows", perm=[0, 1, 3, 2, 4, 5])[0]
    b.node("Reshape", [grid, _sizes(b, node, ins, [-1, h, w, c])], outs, name=node.name)
