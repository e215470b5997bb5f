"""The torch lowerings of the layout ops (dslc/ops/layout.py)."""
from __future__ import annotations

from ...ops.layout import Permute, _Reshaping, runtime_dims
from .table import lowering


@lowering.register(_Reshaping)
def _reshaping(op, node):
    from .modules import ComputedReshape, Reshape
    plan = op._plan(node)
    return ComputedReshape(plan, node.in_types) if runtime_dims(plan) else Reshape(plan)


@lowering.register(Permute)
def _permute(op, node):
    from .modules import Permute as P
    return P(op.perm(node.in_types[0].rank))
