"""Backends read the IR; they compute no shape or parameter count of their own."""
from __future__ import annotations

import importlib
import importlib.util
from functools import cache

from ..diagnostics import Diagnostic, SpecError
from ..ops import family_names


class BackendError(SpecError):
    """A backend cannot express some node (E401), located at the node's spec line."""


def unsupported(node, backend: str, why: str) -> Diagnostic:
    return Diagnostic("E401", f"the {backend} backend cannot express `{node.op.describe()}`: {why}",
                      node.span, notes=tuple((s, "in the block called here") for s in reversed(node.call_sites)))


@cache
def load_lowerings(package: str) -> None:
    """Import the lowerings of every op family a backend package has (its <family>.py), once:
    each registers its entries in the backend's table."""
    for family in family_names():
        name = f"{package}.{family}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def entry_in(table, op_cls):
    """The function a singledispatch table holds for `op_cls` (its own or an ancestor's), or
    None where only the table's default (a refusal) applies."""
    fn = table.dispatch(op_cls)
    return None if fn is table.dispatch(object) else fn
