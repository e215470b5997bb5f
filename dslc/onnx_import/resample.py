"""Resampling: Pad of the spatial axes (pad: constant, reflect, edge, wrap as zeros, reflect,
replicate, circular) and Resize by constant scales or to constant spatial sizes (upsample:
nearest with asymmetric floor coordinates, linear with torch's half-pixel or aligned corners,
or ONNX's half_pixel where every output size exceeds 1, which is torch's there)."""
from __future__ import annotations

from .conv import short
from .graph import Layer, attrs, fail, layer_name, scalar_of

MODES = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}
LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def pad_amounts(g, node):
    """(padding as dslc writes it, mode, value) of a Pad of the spatial axes, or None."""
    pads = g.const(node.input[1]) if len(node.input) > 1 else None
    rank = g.ranks.get(node.input[0])
    mode = MODES.get(attrs(node).get("mode", "constant"))
    if pads is None or rank is None or rank < 3 or mode is None or pads.size != 2 * rank or \
            len(node.input) > 3 and node.input[3]:
        return None
    pads = [int(p) for p in pads.reshape(-1)]
    begins, ends = pads[2:rank], pads[rank + 2:]
    if pads[:2] != [0, 0] or pads[rank:rank + 2] != [0, 0] or min(pads) < 0:
        return None
    value = scalar_of(g.const(node.input[2])) if len(node.input) > 2 and node.input[2] else 0
    if value is None:
        return None
    padding = short(begins) if begins == ends else tuple(zip(begins, ends))
    return padding, mode, value


def pad(g, node):
    found = pad_amounts(g, node)
    if found is None:
        raise fail(node, "only a constant Pad of the axes after N and C is a dslc pad")
    padding, mode, value = found
    kw = {k: v for k, v, d in (("mode", mode, "zeros"), ("value", float(value), 0.0)) if v != d}
    return Layer("pad", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(padding,), kwargs=kw), []


def resize(g, node):
    a = attrs(node)
    rank = g.ranks.get(node.input[0])
    if rank is None or rank not in (3, 4, 5):
        raise fail(node, "only a Resize of [N, C, *spatial] is an upsample")
    n, kw = rank - 2, {}
    mode, coords = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest" and coords == "asymmetric" and a.get("nearest_mode") == "floor":
        pass
    elif mode == "linear" and coords in ("pytorch_half_pixel", "align_corners", "half_pixel"):
        kw["mode"] = LINEAR[n]
        if coords == "align_corners":
            kw["align_corners"] = True
    else:
        raise fail(node, f"mode {mode} with {coords} coordinates is no dslc upsample")
    ins = list(node.input) + [""] * 4
    scales = g.const(ins[2]) if ins[2] else None
    sizes = g.shape_of(ins[3]) if ins[3] else None
    if coords == "half_pixel" and not _all_above_one(g, node, scales, sizes):
        # torch's pytorch_half_pixel differs from half_pixel where an output size is 1
        raise fail(node, "linear half_pixel coordinates are torch's only where every output "
                         "size exceeds 1, which this Resize does not show")
    if scales is not None and scales.size == rank and list(scales[:2]) == [1, 1]:
        args = (short_float([float(v) for v in scales[2:]]),)
    elif sizes is not None and len(sizes) == rank and all(isinstance(v, int) for v in sizes[2:]):
        args, kw["size"] = (), short(sizes[2:])
    else:
        raise fail(node, "its scales or sizes are not constants of the spatial axes")
    return Layer("upsample", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=args, kwargs=kw), []


def _all_above_one(g, node, scales, sizes) -> bool:
    """Whether every spatial output size of a Resize exceeds 1: known sizes, or scales of 2
    and more, or the input's known sizes times the scales."""
    if sizes is not None:
        return all(isinstance(v, int) and v > 1 for v in sizes[2:])
    if scales is None:
        return False
    dims = (g.dims.get(node.input[0]) or [])[2:]
    return all(s >= 2 or i < len(dims) and isinstance(dims[i], int) and int(dims[i] * s) > 1
               for i, s in enumerate(float(v) for v in scales.reshape(-1)[2:]))


def short_float(values):
    return values[0] if len(set(values)) == 1 else tuple(values)


MATCHERS = {"Pad": pad, "Resize": resize}
