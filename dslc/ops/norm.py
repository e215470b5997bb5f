"""(being written) norm ops."""
from __future__ import annotations

OPS: tuple = ()
