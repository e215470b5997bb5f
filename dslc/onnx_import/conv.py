"""Convolutions and poolings: Conv, ConvTranspose, MaxPool, AveragePool (a padded one whose
window covers the whole input a global pool), GlobalAveragePool,
GlobalMaxPool, their hyperparameters read from the attributes and the weight's shape. A size
repeated on every axis is written once (`kernel_size=3`); ONNX's pads [b1, b2, e1, e2] become
`padding=1`, `(1, 2)` or `((0, 1), (0, 1))` pairs; auto_pad SAME_UPPER is a conv's
`padding=same` (a pool's is refused); a
Pad named `<conv>.pad` (reflect, edge, wrap) before a Conv is its padding_mode."""
from __future__ import annotations

from .graph import Layer, attrs, fail, layer_name, part_of


def short(values):
    """One int for a size repeated on every axis, else the tuple."""
    values = tuple(int(v) for v in values)
    return values[0] if len(set(values)) == 1 else values


def padding(node, a: dict, n: int):
    auto = a.get("auto_pad", "NOTSET")
    if auto == "SAME_UPPER":
        return "same"
    if auto == "VALID":
        return 0
    if auto != "NOTSET":
        raise fail(node, f"auto_pad {auto} has no dslc padding")
    pads = list(a.get("pads", [0] * (2 * n)))
    begins, ends = pads[:n], pads[n:]
    if begins == ends:
        return short(begins)
    return tuple((b, e) for b, e in zip(begins, ends))


def _geometry(node, a: dict, n: int) -> dict:
    kw = {}
    for key, field in (("strides", "stride"), ("dilations", "dilation")):
        if key in a and set(a[key]) != {1}:
            kw[field] = short(a[key])
    pad = padding(node, a, n)
    if pad != 0:
        kw["padding"] = pad
    return kw


def conv(g, node):
    a = attrs(node)
    w = g.const(node.input[1])
    if w is None or w.ndim not in (3, 4, 5):
        raise fail(node, f"its weight is not a constant of rank 3, 4 or 5"
                         f"{g.unfolded(node.input[1])}")
    n = w.ndim - 2
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and bias is None:
        raise fail(node, "its bias is not a constant")
    transposed = node.op_type == "ConvTranspose"
    groups = a.get("group", 1)
    out = w.shape[1] * groups if transposed else w.shape[0]
    kw = _geometry(node, a, n)
    if transposed:
        if a.get("output_shape") or kw.get("padding") == "same":
            raise fail(node, "output_shape and auto_pad have no conv_transpose form")
        if set(a.get("output_padding", [0])) != {0}:
            kw["output_padding"] = short(a["output_padding"])
    if groups != 1:
        kw["groups"] = groups
    if bias is None:
        kw["bias"] = False
    weights = {"weight": w, **({"bias": bias} if bias is not None else {})}
    kind = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    return Layer(kind, [node.input[0]], [node.output[0]], layer_name(node, node.input[1]),
                 args=(int(out), short(w.shape[2:])), kwargs=kw, weights=weights), []


def pool(g, node):
    a = attrs(node)
    ks = a["kernel_shape"]
    n = len(ks)
    if _whole(g, node, a):
        kind = "global_avgpool" if node.op_type == "AveragePool" else "global_maxpool"
        return Layer(kind, [node.input[0]], [node.output[0]], layer_name(node, None)), []
    kw = _geometry(node, a, n)
    if kw.get("padding") == "same":
        raise fail(node, "auto_pad SAME_UPPER has no dslc pool form (a pool's padding is "
                         "given in numbers)")
    if "stride" not in kw and list(a.get("strides", [1] * n)) != list(ks):
        kw["stride"] = 1          # dslc's stride defaults to the kernel, ONNX's to 1
    elif kw.get("stride") == short(ks):
        del kw["stride"]
    if a.get("ceil_mode", 0):
        # dslc lowers ceil_mode with end pads shortened so that ONNX keeps torch's sizes; the
        # begin pads are the padding it was given
        kw["ceil_mode"] = True
        begins = list(a.get("pads", [0] * 2 * n))[:n]
        kw.pop("padding", None)
        if set(begins) != {0}:
            kw["padding"] = short(begins)
        _ceil_sizes_agree(g, node, a, begins)
    if isinstance(kw.get("padding"), tuple) and isinstance(kw["padding"][0], tuple):
        _ceil_for_end_pads(g, node, kw, ks, list(a.get("strides", [1] * n)))
    if node.op_type == "AveragePool":
        if not a.get("count_include_pad", 0) and "padding" in kw:   # else no pad is counted
            kw["count_include_pad"] = False
        kind = f"avgpool{n}d"
    else:
        if a.get("storage_order", 0) or len(node.output) > 1 and node.output[1]:
            raise fail(node, "a MaxPool with indices has no dslc form")
        kind = f"maxpool{n}d"
    return Layer(kind, [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(short(ks),), kwargs=kw), []


def _ceil_sizes_agree(g, node, a, begins) -> None:
    """A ceil_mode pool's sizes at the input's known sizes: the graph's (onnxruntime's: its
    own end pads, a last window that starts past the input and the begin pad dropped)
    against torch's (the begin pads at both ends, the same rule); other end pads can give
    other sizes, refused."""
    n = len(begins)
    ends = list(a.get("pads", [0] * 2 * n))[n:]
    strides, dil = a.get("strides", [1] * n), a.get("dilations", [1] * n)

    def size(d, k, st, dl, p, e):
        out = -(-(d + p + e - dl * (k - 1) - 1) // st) + 1
        return out - 1 if (out - 1) * st >= d + p else out
    if node.op_type == "AveragePool" and a.get("count_include_pad", 0) and ends != begins \
            and g.proto.producer_name != "dslc":
        raise fail(node, "it counts its end padding, padded otherwise than at the start, in "
                         "its means, and torch's ceil_mode windows count the begin pad's "
                         "width at most")
    dims = (g.dims.get(node.input[0]) or [])[2:]
    for d, k, st, dl, p, e in zip(dims, a["kernel_shape"], strides, dil, begins, ends):
        if isinstance(d, int) and size(d, k, st, dl, p, e) != size(d, k, st, dl, p, p):
            raise fail(node, f"with ceil_mode and its end pads it gives "
                             f"{size(d, k, st, dl, p, e)} where dslc's ceil_mode pool, padded "
                             f"{p} at both ends, gives {size(d, k, st, dl, p, p)}")


def _whole(g, node, a) -> bool:
    """Whether the pool's one window covers its whole input at its known sizes (Caffe's
    GoogLeNet: a 7x7 AveragePool, padded at the ends, of a 6x6 map) and no padding counts
    (the mean excludes it, a max ignores it): a global pool. Not with dilations."""
    ks, dims = list(a["kernel_shape"]), (g.dims.get(node.input[0]) or [])[2:]
    n = len(ks)
    pads = list(a.get("pads", [0] * 2 * n))
    strides = list(a.get("strides", [1] * n))
    if len(dims) != n or not all(isinstance(d, int) for d in dims) or \
            set(a.get("dilations", [1])) != {1} or a.get("auto_pad", "NOTSET") != "NOTSET" or \
            len(node.output) > 1 and node.output[1] or \
            node.op_type == "AveragePool" and a.get("count_include_pad", 0) and any(pads):
        return False
    return any(pads) and all(
        k - b >= d and d + b + e - k < st and b < k and
        (d + b + e == k or not a.get("ceil_mode", 0))          # else a second window
        for d, k, b, e, st in zip(dims, ks, pads[:n], pads[n:], strides))


def _ceil_for_end_pads(g, node, kw: dict, ks, strides) -> None:
    """A MaxPool padded at the ends only (Caffe's way of rounding the output size up) is
    `ceil_mode=true` when, at the input's known sizes, both give the same output sizes and no
    window lies in the padding alone; else dslc's pools (one padding per dim) cannot say it."""
    pads = kw["padding"]
    dims = (g.dims.get(node.input[0]) or [])[2:]
    ok = node.op_type == "MaxPool" and not kw.get("ceil_mode") and len(dims) == len(ks) and \
        all(isinstance(d, int) for d in dims) and all(b == 0 for b, _ in pads)
    for d, (_, e), k, st in zip(dims, pads, ks, strides) if ok else ():
        ok = ok and e < k and (d + e - k) // st + 1 == -(-(d - k) // st) + 1
    if not ok:
        raise fail(node, "its padding differs between the start and the end of a dim, which "
                         "dslc's pools do not take (a MaxPool padded at the ends only is "
                         "ceil_mode where the sizes agree)")
    del kw["padding"]
    kw["ceil_mode"] = True


def global_pool(g, node):
    kind = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    return Layer(kind, [node.input[0]], [node.output[0]], layer_name(node, None)), []


def padded_conv(g, node):
    """dslc's conv with padding_mode reflect/replicate/circular: a Pad named `<conv>.pad`
    before a Conv with zero pads."""
    from .resample import pad_amounts
    found = pad_amounts(g, node)
    nxt = g.sole_consumer(node.output[0])
    if found is None or found[1] == "zeros" or nxt is None or nxt.op_type != "Conv" or \
            nxt.input[0] != node.output[0] or part_of(node, "pad") is None:
        return None
    a = attrs(nxt)
    if set(a.get("pads", [0])) != {0} or a.get("auto_pad", "NOTSET") != "NOTSET":
        return None
    layer, used = conv(g, nxt)
    layer.inputs = [node.input[0]]
    layer.kwargs.update(padding=found[0], padding_mode=found[1])
    return layer, [nxt, *used]


PATTERNS = {"Pad": [padded_conv]}
MATCHERS = {"Conv": conv, "ConvTranspose": conv, "MaxPool": pool, "AveragePool": pool,
            "GlobalAveragePool": global_pool, "GlobalMaxPool": global_pool}
