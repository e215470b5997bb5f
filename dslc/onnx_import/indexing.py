"""Indexing: GatherElements (gather), Gather of a tensor by a 1-D index tensor (index_select),
Slice with constant axes and steps (slice; each bound a constant, the axis's size read by a
Shape, or that size plus a constant, written `T`, `T - 1`; a Slice of several axes a chain of
slices), TopK (topk, k as a slice bound), OneHot (one_hot; with dtype= their type, or a Cast
`<layer>` of the Cast `<layer>.f32`; values other than [0, 1] scaled and shifted after it,
an axis other than the last a permute, non-integer indices cast to i64 first) and CumSum
(cumsum). An index's Cast to i64 `<layer>.index_i64` is part of its layer."""
from __future__ import annotations

import re

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
    """One slice per axis, in the order the Slice lists them (they commute): a Slice of
    several axes (x[1:3, ::2] in one node) is a chain of slices."""
    x, out = node.input[0], node.output[0]
    axes, steps = (_ints(g, node.input[k]) if len(node.input) > k and node.input[k] else None
                   for k in (3, 4))
    rank = g.ranks.get(x)
    if axes is None:        # absent: the first len(starts) axes
        starts = _ints(g, node.input[1])
        count = len(starts) if starts is not None else (g.dims.get(node.input[1]) or [None])[0]
        if not isinstance(count, int):
            raise fail(node, "its axes are absent and the number of its bounds unknown")
        axes = list(range(count))
    steps = steps or [1] * len(axes)
    if len(steps) != len(axes):
        raise fail(node, f"it lists {len(axes)} axes and {len(steps)} steps")
    if any(s < 1 for s in steps):
        raise fail(node, f"step {min(steps)} (a reversal) has no dslc form: dslc's slice steps "
                         f"are >= 1")
    if len(axes) == 1:
        bounds = [(bound(g, node.input[1], x, _axis(axes[0], rank)),
                   bound(g, node.input[2], x, _axis(axes[0], rank)))]
    else:           # several axes: constant bounds, one per axis
        starts, ends = _ints(g, node.input[1]), _ints(g, node.input[2])
        if starts is None or ends is None or not len(starts) == len(ends) == len(axes):
            raise fail(node, f"the bounds of its {len(axes)} axes are not constants, one each")
        bounds = list(zip(starts, ends))
    if any(lo is None or hi is None for lo, hi in bounds):
        raise fail(node, "its bounds are neither constants nor the axis's size plus a constant "
                   "(a size ONNX shape inference leaves unknown is one only minus a constant)")
    dims = g.dims.get(x) or []
    for axis, (lo, hi), step in zip(axes, bounds, steps):
        size = dims[_axis(axis, rank)] if rank and len(dims) == rank else None
        if all(isinstance(v, int) for v in (lo, hi, size)) and \
                not range(*slice(lo, hi, step).indices(size)):
            raise fail(node, f"it takes nothing of axis {_axis(axis, rank)} ([{lo}:{hi}] of "
                             f"{size}), and a dslc slice is never empty")
    cur, layers = x, []
    for k, (axis, (lo, hi), step) in enumerate(zip(axes, bounds, steps)):
        last = k == len(axes) - 1
        nxt = out if last else f"{out}.axis{k}"
        layers.append(Layer("slice", [cur], [nxt], layer_name(node, None) if last else None,
                            args=(lo, hi, _axis(axis, rank)),
                            kwargs={} if step == 1 else {"step": step}))
        cur = nxt
    return layers if len(layers) > 1 else layers[0], []


def _axis(axis: int, rank) -> int:
    return axis % rank if rank else axis


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
    """one_hot(depth) on the last axis; values [off, on] other than [0, 1] are `* (on - off)`
    and `+ off` after it, an axis other than the last a permute moving the new axis there."""
    depth, values = (g.const(i) for i in node.input[1:3])
    if depth is None or values is None or values.size != 2 or scalar_of(depth) is None:
        raise fail(node, "only a OneHot of constant depth and [off, on] values is a dslc one_hot")
    off, on = (v.item() for v in values.reshape(-1))
    rank = g.ranks.get(node.input[0])
    axis = int(attrs(node).get("axis", -1))
    if axis != -1 and rank is None:
        raise fail(node, f"its axis {axis} needs the indices' rank, which is unknown")
    axis = axis % (rank + 1) if rank is not None else rank
    out, used = node.output[0], []
    name = layer_name(node, None)
    from onnx.helper import np_dtype_to_tensor_dtype
    dtype = DTYPES.get(np_dtype_to_tensor_dtype(values.dtype))
    if dtype is None:
        raise fail(node, f"its values are {values.dtype}, no dslc dtype")
    cast = g.sole_consumer(out)
    layer = part_of(node, "f32")
    if layer is not None and cast is not None and cast.op_type == "Cast" and \
            layer_name(cast, None) == layer and attrs(cast)["to"] in DTYPES:
        name, out, dtype, used = layer, cast.output[0], DTYPES[attrs(cast)["to"]], [cast]
    index = _index(g, node.input[0], name)
    layers = []
    if g.types.get(index, 7) not in INTEGER:    # ONNX casts other indices to i64 first
        layers.append(Layer("cast", [index], [f"{out}.index"], None, args=("i64",)))
        index = f"{out}.index"
    after = ([("mul", "*", on - off)] if on - off != 1 else []) + \
        ([("add", "+", off)] if off != 0 else [])
    moved = rank is not None and axis != rank
    cur = f"{out}.hot" if after or moved else out
    layers.append(Layer("one_hot", [index], [cur], None if after or moved else name,
                        args=(int(scalar_of(depth)),), kwargs={} if dtype == "i64" else
                        {"dtype": dtype}))
    for k, (kind, sym, v) in enumerate(after):
        nxt = out if k == len(after) - 1 and not moved else f"{out}.{kind}"
        layers.append(Layer(kind, [cur], [nxt], None, kwargs={"scalar": v}, infix=sym))
        cur = nxt
    if moved:
        perm = (*range(axis), rank, *range(axis, rank))
        layers.append(Layer("permute", [cur], [out], None, args=perm))
    layers[-1].name = name
    return (layers if len(layers) > 1 else layers[0]), used


INTEGER = {2, 3, 4, 5, 6, 7, 12, 13}      # ONNX's integer element types


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
