"""dslc's free tensors (param): the Identity of the initializer `<name>.weight` onto `<name>` is
the param layer, where it stands in the graph; its readers take it as a tensor (graph.py keeps
it out of the constants)."""
from __future__ import annotations

from .graph import is_param
from .shape import param


def free(g, node):
    return (param(g, node.output[0]), []) if is_param(node) else None


MATCHERS: dict = {}
PATTERNS = {"Identity": [free]}
