"""The torch lowerings of the linalg ops (dslc/ops/linalg.py)."""
from __future__ import annotations

from ...ops.linalg import Einsum, MatMul
from .table import lowering


@lowering.register(MatMul)
def _mat_mul(op, node):
    from .indexing import MatMul as M
    return M()


@lowering.register(Einsum)
def _einsum(op, node):
    from .indexing import Einsum as E
    return E(op.explicit(*node.in_types))
