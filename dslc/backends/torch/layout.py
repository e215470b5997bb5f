"""The torch lowerings of the layout ops (dslc/ops/layout.py)."""
from __future__ import annotations

from ...ops.layout import Permute, _Reshaping
from .table import lowering


@lowering.register(_Reshaping)
def _reshaping(op, node):
    from .modules import Reshape
    return Reshape(op._plan(node), node.in_types)


@lowering.register(Permute)
def _permute(op, node):
    from .modules import Permute as P
    return P(op.perm(node.in_types[0].rank))
