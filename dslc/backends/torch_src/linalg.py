"""torch-src entries of the contractions (dslc/ops/linalg.py)."""
from __future__ import annotations

from ...ops.linalg import Einsum, MatMul
from .table import source


@source.register(MatMul)
def _mat_mul(op, c):
    c.set(f"torch.matmul({c.ins[0]}, {c.ins[1]})")


@source.register(Einsum)
def _einsum(op, c):
    c.set(f"torch.einsum({op.explicit(*c.node.in_types)!r}, [{', '.join(c.ins)}])")
