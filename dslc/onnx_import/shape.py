"""Split into equal parts (split), Expand to sizes built from constants and the inputs' sizes
(expand: a 1 in ONNX's shape keeps the input's size, so the spec's sizes are the broadcast
result, as for the free tensors that `param` makes layers of, params.py), and the noise
sources, whose ONNX form is their mean Expanded to their input's Shape (randn_like: 0,
rand_like: 0.5)."""
from __future__ import annotations

from .graph import Layer, attrs, fail, is_param, layer_name, scalar_of

NOISE = {0.0: "randn_like", 0.5: "rand_like"}


def split(g, node):
    a, parts = attrs(node), len(node.output)
    if len(node.input) > 1 and node.input[1]:
        sizes = g.const(node.input[1])
        if sizes is None or len({int(s) for s in sizes.reshape(-1)}) != 1:
            raise fail(node, "only a Split into equal parts is a dslc split")
    axis = int(a.get("axis", 0))
    dims = g.dims.get(node.input[0])
    size = dims[axis] if dims is not None and -len(dims) <= axis < len(dims) else None
    if isinstance(size, int) and len(node.input) > 1 and node.input[1] and \
            int(g.const(node.input[1]).sum()) != size:
        raise fail(node, f"its split sizes {g.const(node.input[1]).tolist()} do not add up to "
                         f"axis {axis}'s {size}")
    if isinstance(size, int) and size % parts:
        raise fail(node, f"a Split of axis {axis}'s {size} into {parts} parts: dslc's split "
                         "makes equal parts")
    return Layer("split", [node.input[0]], list(node.output), layer_name(node, None),
                 args=(parts,), kwargs={} if axis == 1 else {"axis": axis}), []


def param(g, value):
    """The param layer of a free tensor (dslc's Identity of `<name>.weight` onto `<name>`),
    or None when `value` is not one."""
    n = g.producer.get(value)
    if n is None or not is_param(n) or g.const(n.input[0]) is None:
        return None
    w = g.const(n.input[0])
    return Layer("param", [], [value], value, args=([int(s) for s in w.shape],),
                 weights={"weight": w})


def expand(g, node):
    x, out = node.input[0], node.output[0]
    sizes, src = g.shape_of(node.input[1]), g.producer.get(node.input[1])
    mean = scalar_of(g.const(x))
    if mean in NOISE and src is not None and src.op_type == "Shape" and not src.attribute:
        return Layer(NOISE[mean], [src.input[0]], [out], layer_name(node, None)), []
    if g.const(x) is not None:
        raise fail(node, "an Expand of a constant has no dslc form (a free tensor is a param)")
    dims = g.dims.get(x)
    if sizes is None or None in sizes or dims is None or len(dims) > len(sizes):
        raise fail(node, "only an Expand to sizes of constants and the inputs' sizes is imported")
    lead = len(sizes) - len(dims)
    target = [dims[i - lead] if i >= lead and s == 1 else s for i, s in enumerate(sizes)]
    if None in target:
        raise fail(node, "it keeps an input dim of unknown size")
    return Layer("expand", [x], [out], layer_name(node, None), args=tuple(target)), []


MATCHERS = {"Split": split, "Expand": expand}
