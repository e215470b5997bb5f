"""(being written) conv ops."""
from __future__ import annotations

OPS: tuple = ()
