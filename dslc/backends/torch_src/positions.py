"""torch-src entries of the position ops (dslc/ops/positions.py): runtime.py's helpers, which
the interpreter runs too."""
from __future__ import annotations

from ...ops.positions import (Arange, Positional, Positions, RelativeBias, Roll, WindowBias,
                              WindowMerge, WindowPartition)
from .code import call, dtype_expr, lit
from .table import source


@source.register(Positional)
def _positional(op, c):
    x = c.node.in_types[0]
    c.helper("table_rows")
    if c.tied:              # another positional's table: its weight, read where it lives
        ids = c.ins[1] if op.positions else "None"
        return c.set(call("table_rows", c.param("weight"), c.ins[0], op.offset, ids))
    if op.encoding == "learned":
        c.helper("LearnedPositions")
        return c.module(call("LearnedPositions", op.max_len, x.shape[2].value, op.offset))
    c.helper("SinusoidalPositions")
    c.module(call("SinusoidalPositions", op.max_len, x.shape[2].value, dtype_expr(x.dtype),
                  lit(op.encoding), op.offset))


@source.register(Arange)
def _arange(op, c):
    """Known bounds: a constant buffer (it follows the module's device); else computed from
    the carriers' sizes, on their device."""
    start, end, step = op.range()
    if start.is_const() and end.is_const():
        c.helper("Arange")
        return c.module(call("Arange", start.value, end.value, step, dtype_expr(op.dtype)))
    c.set(f"torch.arange({c.dim(start)}, {c.dim(end)}, {step}, dtype={dtype_expr(op.dtype)}, "
          f"device={c.ins[0]}.device)")


@source.register(Positions)
def _positions(op, c):
    c.helper("position_ids")
    extra = c.ins[1] if len(c.ins) > 1 else "None"
    c.set(call("position_ids", c.ins[0], op.offset, extra if op.past else "None",
               extra if op.mask else "None"))


@source.register(RelativeBias)
def _relative_bias(op, c):
    c.helper("RelativeBias")
    c.init(call("RelativeBias", op.buckets, op.heads, lit(op.bucket_table().tolist())))
    c.set(f"{c.attr}({c.ins[0]}, {c.ins[-1]})")


@source.register(WindowBias)
def _window_bias(op, c):
    c.helper("WindowBias")
    c.module(call("WindowBias", op.heads, *op.hw()))


@source.register(Roll)
def _roll(op, c):
    plan = op.plan(c.node.in_types[0])
    if plan[0][0] is None:
        return c.set(f"torch.roll({c.ins[0]}, {plan[0][1]})")
    c.set(f"torch.roll({c.ins[0]}, {lit([s for _, s in plan])}, {lit([a for a, _ in plan])})")


@source.register(WindowPartition)
def _window_partition(op, c):
    c.helper("window_partition")
    c.set(f"window_partition({c.ins[0]}, {op.window})")


@source.register(WindowMerge)
def _window_merge(op, c):
    c.helper("window_merge")
    h, w = c.node.out_types[0].shape[1:3]
    c.set(f"window_merge({c.ins[0]}, {op.window}, {c.dim(h)}, {c.dim(w)})")
