"""Convolutions (cross-correlation, as in torch and ONNX)."""
from __future__ import annotations

from math import prod
from typing import ClassVar, Literal, Union

from ..ir.dims import Dim
from .base import ShapeError, known, need_float, need_rank, ntuple, torch_uniform, variant
from .linear import WeightNormed, weight_params
from .window import axis_name, check_fits, out_size, pads

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, str, tuple[int, ...], tuple[tuple[int, int], ...]]
Pairs = Union[int, tuple[int, ...], tuple[tuple[int, int], ...]]


def check_channels(op, x) -> None:
    """Rank n+2, floating point, known input channels, groups dividing both channel counts."""
    layout = "[N, C, " + ", ".join(axis_name(i, op.n)[0].upper() for i in range(op.n)) + "]"
    need_rank(x, op.n + 2, op.kind, layout)
    need_float(x, op.kind)
    c = known(x.shape[1], f"the input channels of {op.kind}")
    for what, v in (("out_channels", op.out_channels), ("groups", op.groups)):
        if v < 1:
            raise ShapeError("E205", f"{op.kind}: {what} must be >= 1, got {v}",
                             expected=">= 1", got=str(v))
    for what, v in (("input channels", c), ("out_channels", op.out_channels)):
        if v % op.groups:
            raise ShapeError("E305", f"{op.kind}: groups={op.groups} does not divide the {what} "
                             f"({v})", expected=f"a multiple of {op.groups}", got=str(v),
                             culprits=(0,) if what == "input channels" else ())


class _Conv(WeightNormed):
    """convNd(out_channels, kernel_size): [N, C, *S] -> [N, out_channels, *S'] with
    S' = floor((S + pb + pe - dilation*(k-1) - 1) / stride) + 1 per axis. padding: an int, one
    per axis, (begin, end) pairs per axis, `valid` (0), `same` (S' = ceil(S/stride), the odd
    pad at the end, ONNX SAME_UPPER) or `full` (dilation*(k-1) on both sides).
    Weight [out, C/groups, *k], bias [out]. weight_norm=true: weight = g * v / ||v||, torch's
    parametrizations.weight_norm(dim=0) with its names (as dense's): g [out, 1, ...]."""
    n: ClassVar[int]
    positional: ClassVar[tuple[str, ...]] = ("out_channels", "kernel_size")
    out_channels: int
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: Padding = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    bias: bool = True
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    weight_norm: bool = False

    def geometry(self, x):
        """(kernel, stride, dilation, pads) per spatial axis; pads as in window.pads."""
        ks = ntuple(self.kernel_size, self.n, "kernel_size")
        ss = ntuple(self.stride, self.n, "stride")
        ds = ntuple(self.dilation, self.n, "dilation")
        if min(ks + ss + ds) < 1:
            raise ShapeError("E205", f"{self.kind}: kernel_size, stride and dilation must be >= 1")
        return ks, ss, ds, pads(self.padding, self.n, ks, ss, ds, x.shape[2:])

    def shape(self, x):
        check_channels(self, x)
        ks, ss, ds, ps = self.geometry(x)
        spatial = []
        for i, (size, p, k, s, d) in enumerate(zip(x.shape[2:], ps, ks, ss, ds)):
            o = out_size(size, p, k, s, d)
            check_fits(self.kind, size, p, k, d, o, axis_name(i, self.n))
            spatial.append(o)
        return x.with_shape((x.shape[0], Dim.of(self.out_channels), *spatial))

    def params(self, x):
        ks = ntuple(self.kernel_size, self.n, "kernel_size")
        p = weight_params((self.out_channels, x.shape[1].value // self.groups, *ks),
                          self.weight_norm)
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def init(self, name, shape, xs, rng):
        return torch_uniform(shape, xs[0].shape[1].value // self.groups *
                             prod(ntuple(self.kernel_size, self.n, "kernel_size")), rng)

    def macs(self, xs, ys):
        """N * prod(S') * out_channels * C/groups * prod(kernel): one kernel window per output
        element."""
        out = Dim.of(1)
        for d in ys[0].shape[:1] + ys[0].shape[2:]:
            out = out * d
        per = self.out_channels * xs[0].shape[1].value // self.groups
        return out * (per * prod(ntuple(self.kernel_size, self.n, "kernel_size")))


class _ConvTranspose(WeightNormed):
    """conv_transposeNd(out_channels, kernel_size): [N, C, *S] -> [N, out_channels, *S'] with
    S' = (S - 1)*stride - pb - pe + dilation*(k-1) + output_padding + 1 per axis; padding: an int,
    one per axis, or (begin, end) pairs per axis (rows cropped from the output's two ends).
    Weight [C, out/groups, *k] (torch layout), bias [out]. weight_norm=true: weight = g * v / ||v||,
    torch's parametrizations.weight_norm(dim=0) with its names (as dense's): dim 0 is the stored
    weight's input-channel axis, g [C, 1, ...]."""
    n: ClassVar[int]
    positional: ClassVar[tuple[str, ...]] = ("out_channels", "kernel_size")
    out_channels: int
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: Pairs = 0
    output_padding: IntOrTuple = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    bias: bool = True
    weight_norm: bool = False

    def geometry(self):
        ks, ss, ds, ops = (ntuple(v, self.n, what) for v, what in (
            (self.kernel_size, "kernel_size"), (self.stride, "stride"), (self.dilation, "dilation"),
            (self.output_padding, "output_padding")))
        ps = pads(self.padding, self.n, ks, ss, ds, ())
        if min(ks + ss + ds) < 1:
            raise ShapeError("E205", f"{self.kind}: kernel_size, stride and dilation must be >= 1")
        for o, s, d in zip(ops, ss, ds):
            if not 0 <= o < max(s, d):
                raise ShapeError("E205", f"{self.kind}: output_padding {o} must be smaller than "
                                 f"the stride or the dilation ({max(s, d)})",
                                 expected=f"0 <= output_padding < {max(s, d)}", got=str(o))
        return ks, ss, ds, ps, ops

    def shape(self, x):
        check_channels(self, x)
        ks, ss, ds, ps, ops = self.geometry()
        spatial = []
        for i, (size, k, s, d, p, o) in enumerate(zip(x.shape[2:], ks, ss, ds, ps, ops)):
            out = (size - 1) * s - p[0] - p[1] + d * (k - 1) + o + 1
            if out.is_const() and out.value < 1:
                raise ShapeError("E303", f"{self.kind}: padding {p} leaves no output along "
                                 f"{axis_name(i, self.n)} for input size {size}", got=str(out),
                                 expected="an output size of at least 1", culprits=(0,))
            spatial.append(out)
        return x.with_shape((x.shape[0], Dim.of(self.out_channels), *spatial))

    def params(self, x):
        ks = ntuple(self.kernel_size, self.n, "kernel_size")
        p = weight_params((x.shape[1].value, self.out_channels // self.groups, *ks),
                          self.weight_norm)
        if self.bias:
            p["bias"] = (self.out_channels,)
        return p

    def init(self, name, shape, xs, rng):
        # torch's fan_in of a transposed conv weight [in, out/groups, *k] is its dim 1 * k.
        return torch_uniform(shape, self.out_channels // self.groups *
                             prod(ntuple(self.kernel_size, self.n, "kernel_size")), rng)

    def macs(self, xs, ys):
        """N * prod(S) * C * out_channels/groups * prod(kernel): each input element scattered
        through one kernel."""
        out = Dim.of(1)
        for d in xs[0].shape[:1] + xs[0].shape[2:]:
            out = out * d
        per = xs[0].shape[1].value * self.out_channels // self.groups
        return out * (per * prod(ntuple(self.kernel_size, self.n, "kernel_size")))



OPS = tuple(variant(_Conv, f"conv{n}d", n=n) for n in (1, 2, 3)) + \
    tuple(variant(_ConvTranspose, f"conv_transpose{n}d", n=n) for n in (1, 2, 3))
