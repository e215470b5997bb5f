"""Tensor operators: binary arithmetic and comparisons (`a + b`; a one-element constant is the
op's number, `x * 0.5`, `1 - z`), Where, Concat, Flatten, Transpose (transpose when it swaps
two axes, else permute), Reshape to a constant shape, and Gather from a constant table
(embedding)."""
from __future__ import annotations

from .graph import Layer, attrs, fail, layer_name, scalar_of

BINARY = {"Add": ("add", "+"), "Sub": ("sub", "-"), "Mul": ("mul", "*"), "Div": ("div", "/"),
          "Pow": ("pow", "**"), "Equal": ("eq", "=="), "Less": ("lt", "<"),
          "LessOrEqual": ("le", "<="), "Greater": ("gt", ">"), "GreaterOrEqual": ("ge", ">="),
          "And": ("logical_and", "and"), "Or": ("logical_or", "or")}


def binary(g, node):
    kind, symbol = BINARY[node.op_type]
    a, b = node.input
    ca, cb = g.const(a), g.const(b)
    name = layer_name(node, None)
    if ca is None and cb is None:
        if kind == "eq":
            neg = g.sole_consumer(node.output[0])
            if neg is not None and neg.op_type == "Not":     # dslc's `a != b`
                return Layer("ne", [a, b], [neg.output[0]], layer_name(neg, None),
                             infix="!="), [neg]
        return Layer(kind, [a, b], [node.output[0]], name, infix=symbol), []
    if ca is not None and cb is not None:
        raise fail(node, "both operands are constants")
    value = scalar_of(cb if ca is None else ca)
    if value is None:
        raise fail(node, "a constant operand with more than one element is no dslc number")
    kw = {"scalar": value, **({"reverse": True} if ca is not None else {})}
    return Layer(kind, [a if ca is None else b], [node.output[0]], name, kwargs=kw,
                 infix=symbol), []


def where(g, node):
    if any(g.const(i) is not None for i in node.input):
        raise fail(node, "a Where with a constant operand has no dslc form")
    return Layer("where", list(node.input), [node.output[0]], layer_name(node, None)), []


def concat(g, node):
    axis = attrs(node)["axis"]
    if any(g.const(i) is not None for i in node.input):
        raise fail(node, "a Concat with a constant operand has no dslc form")
    return Layer("concat", list(node.input), [node.output[0]], layer_name(node, None),
                 kwargs={} if axis == 1 else {"axis": axis}), []


def flatten(g, node):
    axis = attrs(node).get("axis", 1)
    if axis != 1:
        raise fail(node, f"Flatten(axis={axis}) is no dslc flatten (axis 1 only)")
    return Layer("flatten", [node.input[0]], [node.output[0]], layer_name(node, None)), []


def transpose(g, node):
    perm = [int(p) for p in attrs(node)["perm"]]
    moved = [i for i, p in enumerate(perm) if p != i]
    name = layer_name(node, None)
    if len(moved) == 2:
        return Layer("transpose", [node.input[0]], [node.output[0]], name, args=tuple(moved)), []
    return Layer("permute", [node.input[0]], [node.output[0]], name, args=tuple(perm)), []


def reshape(g, node):
    shape = g.const(node.input[1])
    if shape is None:
        raise fail(node, "only a Reshape to a constant shape is imported")
    target = []
    for i, s in enumerate(int(v) for v in shape.reshape(-1)):
        if s == 0:
            dim = g.dims.get(node.input[0], [])
            if i >= len(dim) or dim[i] is None:
                raise fail(node, f"target dim {i} copies an input dim of unknown size")
            s = dim[i]
        target.append(s)
    return Layer("reshape", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=tuple(target)), []


def gather(g, node):
    table = g.const(node.input[0])
    if table is None or table.ndim != 2 or attrs(node).get("axis", 0) != 0 or \
            g.const(node.input[1]) is not None:
        raise fail(node, "only a Gather of integer ids from a constant [n, d] table is an embedding")
    return Layer("embedding", [node.input[1]], [node.output[0]], layer_name(node, node.input[0]),
                 args=tuple(int(s) for s in table.shape), weights={"weight": table}), []


MATCHERS = {**{t: binary for t in BINARY}, "Where": where, "Concat": concat, "Flatten": flatten,
            "Transpose": transpose, "Reshape": reshape, "Gather": gather}
