"""The torch lowerings of the combine ops (dslc/ops/combine.py)."""
from __future__ import annotations

from ...ops.combine import Concat, Split
from .table import lowering


@lowering.register(Concat)
def _concat(op, node):
    from .modules import Concat as C
    return C(op.axis)


@lowering.register(Split)
def _split(op, node):
    from .modules import Split as S
    return S(op.parts, op.axis)
