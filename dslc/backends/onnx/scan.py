"""The onnx lowerings of the scan ops (dslc/ops/scan.py)."""
from __future__ import annotations

from ...ops.scan import Scan
from .table import lowering


@lowering.register(Scan)
def _scan(op, b, node, ins, outs):
    from .lowering import scan
    scan(op, b, node, ins, outs)
