"""Elementwise functions dslc lowers to several nodes, each recorded with its layer and role
(dslc_part): log1p (Kahan's form: Add `w` of 1, Sub `d`, Log `log`, Div `slope`, Equal `tiny`,
IsInf `inf`, Or `exact`, Where `where`, the Mul giving the output), logsigmoid (Abs `abs`, Neg
`neg`, Exp `exp`, that log1p with its roles under `log1p.`, Min with 0, the Sub giving the
output) and rsqrt (Sqrt `sqrt`, the Reciprocal giving the output)."""
from __future__ import annotations

from .graph import Layer, dslc_part, part_of, scalar_of


def _next(g, value, op_type: str, layer: str, role: str):
    """The node of `op_type` that reads `value` and is `layer`'s `role` part."""
    return next((n for n in g.consumers.get(value, []) if n.op_type == op_type and
                 dslc_part(n) == (layer, role)), None)


def _log1p(g, add):
    """(its layer, input, last node, nodes) for the log1p whose Add (role `w`, or `log1p.w`
    inside a logsigmoid) is `add`."""
    part = dslc_part(add)
    if part is None or part[1] not in ("w", "log1p.w") or scalar_of(g.const(add.input[1])) != 1:
        return None
    (layer, role), u, w = part, add.input[0], add.output[0]
    pre = role[:-1]
    d, log, inf = (_next(g, w, op, layer, pre + r) for op, r in
                   (("Sub", "d"), ("Log", "log"), ("IsInf", "inf")))
    slope = log and _next(g, log.output[0], "Div", layer, pre + "slope")
    tiny = d and _next(g, d.output[0], "Equal", layer, pre + "tiny")
    exact = tiny and _next(g, tiny.output[0], "Or", layer, pre + "exact")
    where = exact and _next(g, exact.output[0], "Where", layer, pre + "where")
    mul = where and g.sole_consumer(where.output[0])
    if None in (slope, inf, where, mul) or mul.op_type != "Mul" or \
            list(mul.input) != [u, where.output[0]] or dslc_part(mul) != (layer, pre[:-1]) or \
            slope.input[1] != d.output[0] or inf.output[0] not in exact.input or \
            where.input[2] != slope.output[0]:
        return None
    return layer, u, mul, [add, d, log, inf, slope, tiny, exact, where, mul]


def log1p(g, node):
    found = _log1p(g, node)
    if found is None or dslc_part(node)[1] != "w":
        return None
    layer, u, last, used = found
    return Layer("log1p", [u], [last.output[0]], layer), used[1:]


def logsigmoid(g, node):
    p, x = part_of(node, "abs"), node.input[0]
    if p is None:
        return None
    neg = _next(g, node.output[0], "Neg", p, "neg")
    exp = neg and _next(g, neg.output[0], "Exp", p, "exp")
    add = exp and _next(g, exp.output[0], "Add", p, "log1p.w")
    found = add and _log1p(g, add)
    sub = found and g.sole_consumer(found[2].output[0])
    low = sub and g.producer.get(sub.input[0])
    if not found or sub.op_type != "Sub" or dslc_part(sub) != (p, "") or low is None or \
            low.op_type != "Min" or low.input[0] != x or scalar_of(g.const(low.input[1])) != 0:
        return None
    return Layer("logsigmoid", [x], [sub.output[0]], p), [neg, exp, *found[3], low, sub]


def rsqrt(g, node):
    p = part_of(node, "sqrt")
    inv = g.sole_consumer(node.output[0])
    if p is None or inv is None or inv.op_type != "Reciprocal" or dslc_part(inv) != (p, ""):
        return None
    return Layer("rsqrt", [node.input[0]], [inv.output[0]], p), [inv]


MATCHERS: dict = {}
PATTERNS = {"Add": [log1p], "Abs": [logsigmoid], "Sqrt": [rsqrt]}
