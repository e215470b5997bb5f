"""The torch lowerings of the arith ops (dslc/ops/arith.py)."""
from __future__ import annotations

from ...ops.arith import Where, _Direct, _Elementwise2, _TORCH
from .table import lowering


@lowering.register(_Elementwise2)
def _elementwise2(op, node):
    from .modules import Elementwise2
    return Elementwise2(_TORCH[op.kind], op.scalar, op.reverse)


@lowering.register(_Direct)
def _direct(op, node):
    from .modules import Elementwise2
    return Elementwise2(_TORCH[op.kind])


@lowering.register(Where)
def _where(op, node):
    from .modules import WhereModule
    return WhereModule(op.other)
