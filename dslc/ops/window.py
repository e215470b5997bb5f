"""Sliding-window geometry shared by convolutions and poolings: padding forms and output sizes.

One place computes the (begin, end) pads of every axis; the shape rule and both lowerings read
them from here, so `same` with an even kernel pads identically everywhere (extra at the end,
ONNX SAME_UPPER)."""
from __future__ import annotations

from ..ir.dims import Dim
from .base import ShapeError, ntuple


def axis_name(i: int, n: int) -> str:
    names = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}[n]
    return names[i]


def dilated(k: int, d: int) -> int:
    return d * (k - 1) + 1


def pads(padding, n: int, ks, ss, ds, sizes) -> list:
    """Per-axis (begin, end) pads as ints, or None on an axis whose `same` pad depends on a
    symbolic size (stride > 1): the lowerings then pad at run time."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "full":
            return [(dilated(k, d) - 1,) * 2 for k, d in zip(ks, ds)]
        if padding == "same":
            return [_same(k, s, d, size) for k, s, d, size in zip(ks, ss, ds, sizes)]
        raise ShapeError("E205", f"unknown padding `{padding}`",
                         expected="an int, a tuple, (begin, end) pairs, same, valid or full",
                         got=padding)
    if n == 1 and isinstance(padding, tuple) and len(padding) == 2 and \
            all(isinstance(p, int) for p in padding):
        padding = (padding,)            # in 1-d, a pair can only mean (begin, end)
    if isinstance(padding, tuple) and padding and all(isinstance(p, tuple) for p in padding):
        if len(padding) != n or any(len(p) != 2 for p in padding):
            raise ShapeError("E205", f"explicit padding needs {n} (begin, end) pairs",
                             expected=f"{n} pairs", got=str(padding))
        out = [tuple(p) for p in padding]
    else:
        out = [(p, p) for p in ntuple(padding, n, "padding")]
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for p in out for v in p):
        raise ShapeError("E205", f"padding must be non-negative integers, got {padding}",
                         expected="non-negative integers", got=str(padding))
    return out


def _same(k: int, s: int, d: int, size: Dim):
    if s == 1:
        total = dilated(k, d) - 1
    elif size.is_const():
        out = -(-size.value // s)
        total = max((out - 1) * s + dilated(k, d) - size.value, 0)
    else:
        return None
    return (total // 2, total - total // 2)


def out_size(size: Dim, pad, k: int, s: int, d: int, ceil_mode: bool = False) -> Dim:
    """torch's rule: floor((in + pb + pe - d*(k-1) - 1) / s) + 1, or ceil with ceil_mode (the
    last window must then start inside the input or the left padding)."""
    if pad is None:                       # dynamic `same`
        return size.cdiv(s)
    span = size + pad[0] + pad[1] - dilated(k, d)
    if not ceil_mode:
        return span // s + 1
    out = span.cdiv(s) + 1
    if out.is_const():
        return out - 1 if (out.value - 1) * s >= size.value + pad[0] else out
    if pad[0] + s > dilated(k, d):
        raise ShapeError("E304", "ceil_mode with this padding and stride needs a known input size",
                         help="give the input a fixed size or drop ceil_mode")
    return out


def check_fits(what: str, size: Dim, pad, k: int, d: int, out: Dim, axis: str) -> None:
    if out.is_const() and out.value < 1:
        padded = size + (pad[0] + pad[1] if pad else 0)
        kernel = f"kernel {k}" + (f" (dilated to {dilated(k, d)})" if d > 1 else "")
        raise ShapeError("E303", f"{what}: {kernel} does not fit input {axis} {size}"
                         + (f" (padded to {padded})" if padded != size else ""),
                         expected=f"an input {axis} of at least {dilated(k, d)} after padding",
                         got=str(padded), culprits=(0,),
                         help="use a smaller kernel, pad the input, or remove a downsampling step")
