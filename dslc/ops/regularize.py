"""(being written) regularize ops."""
from __future__ import annotations

OPS: tuple = ()
