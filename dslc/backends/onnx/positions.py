"""The ONNX lowerings of the position ops (dslc/ops/positions.py)."""
from __future__ import annotations

from ...ops.positions import Positional
from .table import lowering


@lowering.register(Positional)
def _positional(op, b, node, ins, outs):
    from .builder import np_dtype
    d = node.in_types[0].shape[2].value
    table = b.param(node, "weight") if op.encoding == "learned" else \
        b.const(op.table(d).astype(np_dtype(node.in_types[0].dtype)), f"{node.name}.table")
    t = b.node("Shape", [ins[0]], name=f"{node.name}.length", start=1, end=2)[0]
    rows = b.node("Slice", [table, b.ints([0]), t, b.ints([0])], name=f"{node.name}.rows")[0]
    b.node("Add", [ins[0], rows], outs, name=node.name)
