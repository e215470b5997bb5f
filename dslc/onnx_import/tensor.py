"""Tensor operators: binary arithmetic and comparisons (`a + b`, ONNX's Sum of two tensors too; a one-element constant is the
op's number, `x * 0.5`, `1 - z`; Mul of a tensor by itself is square), Cast, Where (its second
operand may be a number), Concat, Flatten, Transpose (transpose when it swaps two axes, else
permute), Reshape to a constant shape or one built from the input's sizes (Shape, Gather,
Concat), channel_shuffle's Reshape -> Transpose -> Reshape, and Gather from a constant table
(embedding)."""
from __future__ import annotations

from .graph import DTYPES, Layer, attrs, fail, layer_name, scalar_of

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
        if kind == "mul" and a == b:
            return Layer("square", [a], [node.output[0]], name), []
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


def sum_(g, node):
    """ONNX's Sum of two tensors (a residual's join in Caffe2's exports): `a + b`."""
    if len(node.input) != 2 or any(g.const(i) is not None for i in node.input):
        raise fail(node, f"a Sum of {len(node.input)} operands, or of a constant, has no dslc "
                         f"form (two tensors are `a + b`)")
    return Layer("add", list(node.input), [node.output[0]], layer_name(node, None),
                 infix="+"), []


def where(g, node):
    """where(cond, a, b), or where(cond, a, 0.0) with a one-element constant b."""
    other = scalar_of(g.const(node.input[2]))
    tensors = list(node.input) if other is None else list(node.input[:2])
    if any(g.const(i) is not None for i in tensors):
        raise fail(node, "a Where with a constant condition or first operand, or a constant "
                         "second one of more than one element, has no dslc form")
    return Layer("where", tensors, [node.output[0]], layer_name(node, None),
                 args=() if other is None else (other,)), []


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


def channel_shuffle(g, node):
    """Reshape to [0, g, C / g, -1] -> Transpose(0, 2, 1, 3) -> Reshape to the input's Shape."""
    shape, x = g.shape_of(node.input[1]), node.input[0]
    swap = g.sole_consumer(node.output[0])
    if shape is None or len(shape) != 4 or shape[0] != 0 or shape[3] != -1 or swap is None or \
            swap.op_type != "Transpose" or list(attrs(swap).get("perm", [])) != [0, 2, 1, 3]:
        return None
    back = g.sole_consumer(swap.output[0])
    src = back is not None and back.op_type == "Reshape" and g.producer.get(back.input[1])
    if not src or src.op_type != "Shape" or src.input[0] != x or len(src.attribute):
        return None
    return Layer("channel_shuffle", [x], [back.output[0]], layer_name(back, None),
                 args=(int(shape[1]),)), [swap, back]


def reshape(g, node):
    shape = g.shape_of(node.input[1])
    if shape is None or None in shape:
        raise fail(node, "only a Reshape to a constant shape or one of known input sizes is "
                   "imported")
    target = []
    for i, s in enumerate(shape):
        if s == 0:
            dim = g.dims.get(node.input[0], [])
            if i >= len(dim) or dim[i] is None:
                raise fail(node, f"target dim {i} copies an input dim of unknown size")
            s = dim[i]
        target.append(s)
    return Layer("reshape", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=tuple(target)), []


def depth_to_space(g, node):
    """DepthToSpace (torch's PixelShuffle: mode CRD) as the three layers it is: a reshape of
    the channels into [C / r^2, r, r] (DCR: [r, r, C / r^2]), a permute that interleaves the
    blocks with the rows and columns, a reshape to [N, C / r^2, H * r, W * r]."""
    a = attrs(node)
    r, mode = int(a["blocksize"]), a.get("mode", "DCR")
    dims = g.dims.get(node.input[0])
    if dims is None or len(dims) != 4 or None in dims or not isinstance(dims[1], int):
        raise fail(node, "a DepthToSpace needs its input's four sizes, the channels known")
    n, c, h, w = dims
    if not isinstance(h, int) and not isinstance(w, int):
        raise fail(node, "its height and width are both symbols, and dslc's ONNX backend "
                         "computes one size of a reshape at most (`reshape(N, C, H * 2, W * 2)`)")
    size = lambda d: d * r if isinstance(d, int) else f"({d} * {r})"
    split, perm = ((c // (r * r), r, r), (0, 1, 4, 2, 5, 3)) if mode == "CRD" else \
        ((r, r, c // (r * r)), (0, 3, 4, 1, 5, 2))
    x, out, name = node.input[0], node.output[0], layer_name(node, None)
    parts = [f"{out}.blocks", f"{out}.interleaved"]
    return [Layer("reshape", [x], [parts[0]], None, args=(n, *split, h, w)),
            Layer("permute", [parts[0]], [parts[1]], None, args=perm),
            Layer("reshape", [parts[1]], [out], name, args=(n, c // (r * r), size(h), size(w)))], []


def gather(g, node):
    table = g.const(node.input[0])
    if table is None or table.ndim != 2 or attrs(node).get("axis", 0) != 0 or \
            g.const(node.input[1]) is not None:
        raise fail(node, "only a Gather of integer ids from a constant [n, d] table is an embedding")
    return Layer("embedding", [node.input[1]], [node.output[0]], layer_name(node, node.input[0]),
                 args=tuple(int(s) for s in table.shape), weights={"weight": table}), []


def cast(g, node):
    to = attrs(node)["to"]
    if to not in DTYPES:
        raise fail(node, f"element type {to} is no dslc dtype")
    return Layer("cast", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(DTYPES[to],)), []


PATTERNS = {"Reshape": [channel_shuffle]}
MATCHERS = {"Cast": cast, **{t: binary for t in BINARY}, "Sum": sum_, "Where": where,
            "DepthToSpace": depth_to_space, "Concat": concat,
            "Flatten": flatten, "Transpose": transpose, "Reshape": reshape, "Gather": gather}
