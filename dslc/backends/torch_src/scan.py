"""torch-src entry of scan (dslc/ops/scan.py): a class holding the cell's layers."""
from __future__ import annotations

from ...ops.scan import Scan
from .table import source


@source.register(Scan)
def _scan(op, c):
    c.module(c.scan_class() + "()")
