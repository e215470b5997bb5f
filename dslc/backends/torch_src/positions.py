"""torch-src entries of the position ops (dslc/ops/positions.py)."""
from __future__ import annotations

from ...ops.positions import Positional
from .code import call, dtype_expr
from .table import source


@source.register(Positional)
def _positional(op, c):
    x = c.node.in_types[0]
    if op.encoding == "learned":
        c.helper("LearnedPositions")
        return c.module(call("LearnedPositions", op.max_len, x.shape[2].value))
    c.helper("SinusoidalPositions")
    c.module(call("SinusoidalPositions", op.max_len, x.shape[2].value, dtype_expr(x.dtype)))
