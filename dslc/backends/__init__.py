"""Backends read the IR; they compute no shape or parameter count of their own."""
from __future__ import annotations

from ..diagnostics import Diagnostic, SpecError


class BackendError(SpecError):
    """A backend cannot express some node (E401), located at the node's spec line."""


def unsupported(node, backend: str, why: str) -> Diagnostic:
    return Diagnostic("E401", f"the {backend} backend cannot express `{node.op.describe()}`: {why}",
                      node.span, notes=tuple((s, "in the block called here") for s in reversed(node.call_sites)))
