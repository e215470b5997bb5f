"""Elementwise functions dslc lowers to several nodes, named after the layer: log1p (Kahan's
form: Add `<layer>.w` of 1, Sub `.d`, Log `.log`, Div `.slope`, Equal `.tiny`, IsInf `.inf`, Or
`.exact`, Where `.where`, Mul `<layer>`), logsigmoid (Abs `.abs`, Neg `.neg`, Exp `.exp`, that
log1p as `<layer>.log1p`, Min `.min` with 0, Sub `<layer>`) and rsqrt (Sqrt `.sqrt`,
Reciprocal `<layer>`)."""
from __future__ import annotations

import re

from .graph import Layer, layer_name, scalar_of


def _next(g, value, op_type: str, name: str):
    """The node of `op_type` named `name` (or `name_<n>`) that reads `value`."""
    return next((n for n in g.consumers.get(value, []) if n.op_type == op_type and
                 re.fullmatch(re.escape(name) + r"(_\d+)?", n.name)), None)


def _log1p(g, add):
    """(its input, its last node, its nodes) for the log1p whose Add `<name>.w` is `add`."""
    if not add.name.endswith(".w") or scalar_of(g.const(add.input[1])) != 1:
        return None
    p, u, w = add.name[:-2], add.input[0], add.output[0]
    d, log, inf = (_next(g, w, op, f"{p}.{part}") for op, part in
                   (("Sub", "d"), ("Log", "log"), ("IsInf", "inf")))
    slope = log and _next(g, log.output[0], "Div", f"{p}.slope")
    tiny = d and _next(g, d.output[0], "Equal", f"{p}.tiny")
    exact = tiny and _next(g, tiny.output[0], "Or", f"{p}.exact")
    where = exact and _next(g, exact.output[0], "Where", f"{p}.where")
    mul = where and g.sole_consumer(where.output[0])
    if None in (slope, inf, where, mul) or mul.op_type != "Mul" or \
            list(mul.input) != [u, where.output[0]] or layer_name(mul, None) != p or \
            slope.input[1] != d.output[0] or inf.output[0] not in exact.input or \
            where.input[2] != slope.output[0]:
        return None
    return u, mul, [add, d, log, inf, slope, tiny, exact, where, mul]


def log1p(g, node):
    found = _log1p(g, node)
    if found is None:
        return None
    u, last, used = found
    return Layer("log1p", [u], [last.output[0]], layer_name(last, None)), used[1:]


def logsigmoid(g, node):
    if not node.name.endswith(".abs"):
        return None
    p, x = node.name[:-4], node.input[0]
    neg = _next(g, node.output[0], "Neg", f"{p}.neg")
    exp = neg and _next(g, neg.output[0], "Exp", f"{p}.exp")
    add = exp and _next(g, exp.output[0], "Add", f"{p}.log1p.w")
    found = add and _log1p(g, add)
    sub = found and g.sole_consumer(found[1].output[0])
    low = sub and g.producer.get(sub.input[0])
    if not found or sub.op_type != "Sub" or layer_name(sub, None) != p or low is None or \
            low.op_type != "Min" or low.input[0] != x or scalar_of(g.const(low.input[1])) != 0:
        return None
    return Layer("logsigmoid", [x], [sub.output[0]], p), [neg, exp, *found[2], low, sub]


def rsqrt(g, node):
    if not node.name.endswith(".sqrt"):
        return None
    p = node.name[:-5]
    inv = g.sole_consumer(node.output[0])
    if inv is None or inv.op_type != "Reciprocal" or layer_name(inv, None) != p:
        return None
    return Layer("rsqrt", [node.input[0]], [inv.output[0]], p), [inv]


MATCHERS: dict = {}
PATTERNS = {"Add": [log1p], "Abs": [logsigmoid], "Sqrt": [rsqrt]}
