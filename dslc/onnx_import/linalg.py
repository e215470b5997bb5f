"""Einsum (einsum, its explicit equation; an input whose `...` covers fewer axes than the
others reaches it through dslc's Unsqueeze `<layer>.pad` of 1s, which is part of it)."""
from __future__ import annotations

import re

from .emit import Name
from .graph import Layer, attrs, fail, layer_name


def _pad(g, value, layer: str):
    """The Unsqueeze `<layer>.pad` making `value`, when it is one."""
    n = g.producer.get(value)
    if n is None or n.op_type != "Unsqueeze" or g.sole_consumer(value) is None or \
            not re.fullmatch(re.escape(f"{layer}.pad") + r"(_\d+)?", n.name):
        return None
    return n


def einsum(g, node):
    eq = attrs(node).get("equation", "")
    if any(g.const(i) is not None for i in node.input) or '"' in eq:
        raise fail(node, "an Einsum of a constant has no dslc form")
    name = layer_name(node, None)
    inputs = [(p.input[0] if (p := _pad(g, i, name)) else i) for i in node.input]
    return Layer("einsum", inputs, [node.output[0]], name, args=(Name(f'"{eq}"'),)), []


def padded(g, node):
    """An Unsqueeze `<layer>.pad` read by the Einsum `<layer>`: the einsum, from its first pad."""
    nxt = g.sole_consumer(node.output[0])
    if nxt is None or nxt.op_type != "Einsum" or _pad(g, node.output[0], layer_name(nxt, None)) \
            is None:
        return None
    name = layer_name(nxt, None)
    layer, _ = einsum(g, nxt)
    return layer, [nxt] + [p for i in nxt.input if (p := _pad(g, i, name)) and p is not node]


MATCHERS = {"Einsum": einsum}
PATTERNS = {"Unsqueeze": [padded]}
