"""torch-src entries of concat and split (dslc/ops/combine.py)."""
from __future__ import annotations

from ...ops.combine import Concat, Split
from .table import source


@source.register(Concat)
def _concat(op, c):
    c.set(f"torch.cat([{', '.join(c.ins)}], dim={op.axis})")


@source.register(Split)
def _split(op, c):
    c.set(f"torch.chunk({c.ins[0]}, {op.parts}, dim={op.axis})")
