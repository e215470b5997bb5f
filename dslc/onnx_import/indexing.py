"""Indexing: GatherElements (gather), Gather of a tensor by a 1-D index tensor (index_select),
Slice with constant axis and step (slice; each bound a constant, the axis's size read by a
Shape, or that size plus a constant, written `T`, `T - 1`), TopK (topk, k as a slice bound),
OneHot with values [0, 1] (one_hot; with dtype= their type, or a Cast `<layer>` of the Cast
`<layer>.f32`) and CumSum (cumsum). An index's Cast to i64 `<layer>.index_i64` is part of
its layer."""
from __future__ import annotations

import re

import numpy as np

from .emit import Name
from .graph import DTYPES, Layer, attrs, fail, layer_name, scalar_of, part_of


def _index(g, value, layer: str | None) -> str:
    """The index before dslc's Cast `<layer>.index_i64`, else `value`."""
    n = g.producer.get(value)
    return n.input[0] if n is not None and n.op_type == "Cast" and layer and \
        n.name == f"{layer}.index_i64" else value


def gather(g, node):
    name = layer_name(node, None)
    x, index = node.input[0], _index(g, node.input[1], name)
    return Layer("gather", [x, index], [node.output[0]], name,
                 args=(int(attrs(node).get("axis", 0)),)), []


def index_select(g, node):
    """A Gather whose data and 1-D indices are both tensors."""
    name = layer_name(node, None)
    index = _index(g, node.input[1], name)
    if g.const(node.input[0]) is not None or g.const(index) is not None or \
            g.ranks.get(index) != 1:
        return None
    return Layer("index_select", [node.input[0], index], [node.output[0]], name,
                 args=(int(attrs(node).get("axis", 0)),)), []


def bound(g, value, x: str, axis: int):
    """A slice bound as dslc writes it: an int, or the symbol of the axis's size (`T`, `T - 1`),
    or None when it is neither."""
    c = g.const(value)
    if c is not None:
        return scalar_of(c)
    n = g.producer.get(value)
    offset = 0
    if n is not None and n.op_type == "Add" and scalar_of(g.const(n.input[1])) is not None:
        offset, n = scalar_of(g.const(n.input[1])), g.producer.get(n.input[0])
    a = attrs(n) if n is not None and n.op_type == "Shape" and n.input[0] == x else None
    dims = g.dims.get(x, [])
    if a is None or (a.get("start", 0), a.get("end")) != (axis, axis + 1):
        return None
    size = dims[axis] if axis < len(dims) else None
    if size is None:
        # a size shape inference does not know: `size - k` is Python's bound -k
        return offset if offset < 0 else None
    if isinstance(size, int):
        return size + offset
    return Name(size if offset == 0 else f"{size} {'-' if offset < 0 else '+'} {abs(offset)}")


def _ints(g, value) -> list[int] | None:
    c = g.const(value)
    return None if c is None else [int(v) for v in c.reshape(-1)]


def slice_(g, node):
    x = node.input[0]
    axes, steps = (_ints(g, node.input[k]) if len(node.input) > k and node.input[k] else None
                   for k in (3, 4))
    if axes is None or len(axes) != 1 or (steps is not None and len(steps) != 1):
        raise fail(node, "only a Slice of one constant axis (and step) is a dslc slice")
    rank = g.ranks.get(x)
    axis = axes[0] % rank if rank else axes[0]
    lo, hi = (bound(g, v, x, axis) for v in node.input[1:3])
    if lo is None or hi is None:
        raise fail(node, "its bounds are neither constants nor the axis's size plus a constant "
                   "(a size ONNX shape inference leaves unknown is one only minus a constant)")
    step = steps[0] if steps else 1
    return Layer("slice", [x], [node.output[0]], layer_name(node, None), args=(lo, hi, axis),
                 kwargs={} if step == 1 else {"step": step}), []


def topk(g, node):
    a = attrs(node)
    axis = int(a.get("axis", -1))
    rank = g.ranks.get(node.input[0])
    k = bound(g, node.input[1], node.input[0], axis % rank if rank else axis)
    if k is None:
        raise fail(node, "its k is neither a constant nor the axis's size plus one")
    kw = {"axis": axis} | ({} if a.get("largest", 1) else {"largest": False})
    return Layer("topk", [node.input[0]], list(node.output), layer_name(node, None), args=(k,),
                 kwargs=kw), []


def one_hot(g, node):
    depth, values = (g.const(i) for i in node.input[1:3])
    if depth is None or values is None or values.size != 2 or list(values.reshape(-1)) != [0, 1] \
            or attrs(node).get("axis", -1) != -1:
        raise fail(node, "only a OneHot of constant depth and values [0, 1] on the last axis is "
                         "a dslc one_hot")
    out, used = node.output[0], []
    name = layer_name(node, None)
    dtype = {np.dtype(np.float16): "f16", np.dtype(np.float32): "f32"}.get(values.dtype, "i64")
    cast = g.sole_consumer(out)
    layer = part_of(node, "f32")
    if layer is not None and cast is not None and cast.op_type == "Cast" and \
            layer_name(cast, None) == layer and attrs(cast)["to"] in DTYPES:
        name, out, dtype, used = layer, cast.output[0], DTYPES[attrs(cast)["to"]], [cast]
    index = _index(g, node.input[0], name)
    return Layer("one_hot", [index], [out], name, args=(int(scalar_of(depth)),),
                 kwargs={} if dtype == "i64" else {"dtype": dtype}), used


def cumsum(g, node):
    a = attrs(node)
    axis = scalar_of(g.const(node.input[1]))
    if axis is None or a.get("exclusive", 0) or a.get("reverse", 0):
        raise fail(node, "only an inclusive forward CumSum along a constant axis is a dslc cumsum")
    return Layer("cumsum", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(int(axis),)), []


def widened(g, node):
    """dslc's Cast of an index to i64 `<layer>.index_i64`, read by its layer."""
    m = re.fullmatch(r"(.+)\.index_i64", node.name)
    nxt = g.sole_consumer(node.output[0])
    if m is None or nxt is None or nxt.op_type not in INDEXED or layer_name(nxt, None) not in (
            m.group(1), m.group(1) + ".f32"):
        return None
    found = INDEXED[nxt.op_type](g, nxt)
    return found and (found[0], [nxt, *found[1]])


INDEXED = {"GatherElements": gather, "OneHot": one_hot, "Gather": index_select}
MATCHERS = {"GatherElements": gather, "Slice": slice_, "TopK": topk, "OneHot": one_hot,
            "CumSum": cumsum}
PATTERNS = {"Gather": [index_select], "Cast": [widened]}
