"""torch-src entries of the arith ops (dslc/ops/arith.py): Python's operators on tensors."""
from __future__ import annotations

from ...ops.arith import Where, _Direct, _Elementwise2
from .code import lit
from .table import source

_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "eq": "==", "ne": "!=",
            "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "logical_and": "&", "logical_or": "|"}
_PREFIX = {"neg": "-", "logical_not": "~"}


@source.register(_Elementwise2)
def _elementwise2(op, c):
    sym = _SYMBOLS[op.kind]
    if op.scalar is None:
        return c.set(f"{c.ins[0]} {sym} {c.ins[1]}")
    a, b = (lit(op.scalar), c.ins[0]) if op.reverse else (c.ins[0], lit(op.scalar))
    c.set(f"{a} {sym} {b}")


@source.register(_Direct)
def _direct(op, c):
    if op.kind in _PREFIX:
        return c.set(f"{_PREFIX[op.kind]}{c.ins[0]}")
    c.set(f" {_SYMBOLS[op.kind]} ".join(c.ins))


@source.register(Where)
def _where(op, c):
    other = c.ins[2] if len(c.ins) > 2 else lit(op.other)
    c.set(f"torch.where({c.ins[0]}, {c.ins[1]}, {other})")
