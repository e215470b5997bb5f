"""torch-src entries of the training-only perturbations (dslc/ops/augment.py)."""
from __future__ import annotations

from ...ops.augment import PhaseShuffle
from .table import source


@source.register(PhaseShuffle)
def _phase_shuffle(op, c):
    c.helper("reflect_index")
    c.helper("phase_shuffle")
    c.set(f"phase_shuffle({c.ins[0]}, {op.n}, self.training)")
