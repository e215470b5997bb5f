"""(being written) shape ops."""
from __future__ import annotations

OPS: tuple = ()
