"""Adaptive poolings (adaptive_avgpool, adaptive_maxpool and their 1d/2d/3d forms), as dslc
lowers them: each spatial axis whose size the output size does not divide is one Slice named
`<layer>.slice` per window (its bounds torch's floor(i*S/o), ceil((i+1)*S/o), constants or
computed from the Shape), a ReduceMean or ReduceMax `<layer>.reduce` of it and a Concat
`<layer>.concat` of the windows, an axis left as it is then copied by an Identity `<layer>`
where it is the last; sizes that divide evenly are a plain AveragePool or MaxPool named after
the layer (`adaptive_maxpool1d_1`), which only that name tells from a pool."""
from __future__ import annotations

import re

from .conv import short
from .graph import Layer, attrs, fail, layer_name, named_part

REDUCE = {"ReduceMean": "avg", "ReduceMax": "max"}
POOL = {"AveragePool": "avg", "MaxPool": "max"}


def _kind(name: str | None, reduce: str, n: int) -> str:
    """The kind the layer's name says (`adaptive_avgpool_1`: the rank-inferring form), else
    the n-d form."""
    m = re.fullmatch(rf"adaptive_{reduce}pool([123]d)?_\d+", (name or "").rsplit(".", 1)[-1])
    return m.group(0).rsplit("_", 1)[0] if m else f"adaptive_{reduce}pool{n}d"


def _axis(g, node) -> int | None:
    """The one axis a Slice, ReduceX or Concat works on (None: not one constant axis)."""
    if node.op_type == "Concat":
        return attrs(node)["axis"]
    c = g.const(node.input[-1]) if len(node.input) > 1 else None
    return int(c.reshape(-1)[0]) if c is not None and c.size == 1 else None


def sliced(g, node):
    """The Slices, Reduces and Concats of one adaptive pool, from its first Slice."""
    m = re.fullmatch(r"(.+)\.slice", node.name)
    if m is None or len(node.input) != 4:
        return None
    base, x = m.group(1), node.input[0]
    rank, dims = g.ranks.get(x), g.dims.get(x, [])
    if rank is None or rank < 3:
        raise fail(node, "the rank of the pooled tensor is unknown")
    cur, used, outs, reduce = x, [], {}, None
    while slices := [c for c in g.consumers.get(cur, [])
                     if c.op_type == "Slice" and named_part(c, base, "slice")]:
        axis = _axis(g, slices[0])
        reduces = [g.sole_consumer(s.output[0]) for s in slices]
        if axis is None or axis < 2 or axis in outs or any(
                r is None or r.op_type not in REDUCE or not named_part(r, base, "reduce") or
                _axis(g, r) != axis or not attrs(r).get("keepdims", 1) or _axis(g, s) != axis
                for s, r in zip(slices, reduces)):
            raise fail(slices[0], "its windows are not an adaptive pooling's")
        concat = g.sole_consumer(reduces[0].output[0])
        if concat is None or concat.op_type != "Concat" or not named_part(concat, base, "concat") or \
                _axis(g, concat) != axis or list(concat.input) != [r.output[0] for r in reduces]:
            raise fail(slices[0], "its windows are not concatenated as an adaptive pooling's")
        if reduce not in (None, REDUCE[reduces[0].op_type]) or \
                len({r.op_type for r in reduces}) != 1:
            raise fail(reduces[0], "its windows mix means and maxima")
        reduce = REDUCE[reduces[0].op_type]
        used += [*slices, *reduces, concat]
        outs[axis] = len(slices)
        cur = concat.output[0]
    copy = g.sole_consumer(cur)
    if copy is not None and copy.op_type == "Identity" and copy.name == base:
        used.append(copy)
        cur = copy.output[0]
    sizes = [outs.get(a, dims[a] if a < len(dims) else None) for a in range(2, rank)]
    if any(not isinstance(s, int) for s in sizes):
        raise fail(node, "an axis it leaves as it is has no known size")
    # sizes ONNX's shape inference leaves unknown, which a plain pool after it needs
    g.dims[cur] = [*(dims[:2] if len(dims) == rank else [None, None]), *sizes]
    return Layer(_kind(base, reduce, rank - 2), [x], [cur], base, args=(short(sizes),)), \
        [u for u in used if u is not node]


def plain(g, node):
    """A pool named `adaptive_..._<n>` with kernel = stride, no padding: the even case."""
    name = layer_name(node, None)
    a = attrs(node)
    ks, dims = list(a.get("kernel_shape", [])), g.dims.get(node.input[0], [])
    kind = _kind(name, POOL[node.op_type], len(ks))
    if not re.fullmatch(re.escape(kind) + r"_\d+", (name or "").rsplit(".", 1)[-1]) or \
            list(a.get("strides", [])) != ks or set(a.get("pads", [0])) != {0} or \
            a.get("ceil_mode", 0) or len(dims) != len(ks) + 2:
        return None
    spatial = dims[2:]
    if any(not isinstance(s, int) or s % k for s, k in zip(spatial, ks)):
        return None
    return Layer(kind, [node.input[0]], [node.output[0]], name,
                 args=(short(s // k for s, k in zip(spatial, ks)),)), []


MATCHERS: dict = {}
PATTERNS = {"Slice": [sliced], "AveragePool": [plain], "MaxPool": [plain]}
