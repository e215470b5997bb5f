"""(being written) pool ops."""
from __future__ import annotations

OPS: tuple = ()
