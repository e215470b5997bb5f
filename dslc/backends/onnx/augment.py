"""The onnx lowerings of the augment ops (dslc/ops/augment.py)."""
from __future__ import annotations

from ...ops.augment import PhaseShuffle
from .table import lowering


@lowering.register(PhaseShuffle)
def _phase_shuffle(op, b, node, ins, outs):
    b.node("Identity", ins, outs, name=node.name)
