"""Convolutions (cross-correlation, as in torch and ONNX)."""
from __future__ import annotations

from math import prod
from typing import ClassVar, Literal, Union

from ..ir.dims import Dim
from .base import Op, ShapeError, known, need_float, need_rank, ntuple, torch_uniform, variant
from .window import axis_name, check_fits, dilated, out_size, pads

IntOrTuple = Union[int, tuple[int, ...]]
Padding = Union[int, str, tuple[int, ...], tuple[tuple[int, int], ...]]
_ONNX_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


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


class _Conv(Op):
    """convNd(out_channels, kernel_size): [N, C, *S] -> [N, out_channels, *S'] with
    S' = floor((S + pb + pe - dilation*(k-1) - 1) / stride) + 1 per axis. padding: an int, one
    per axis, (begin, end) pairs per axis, `valid` (0), `same` (S' = ceil(S/stride), the odd
    pad at the end, ONNX SAME_UPPER) or `full` (dilation*(k-1) on both sides).
    Weight [out, C/groups, *k], bias [out]."""
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
        p = {"weight": (self.out_channels, x.shape[1].value // self.groups, *ks)}
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

    def torch(self, node):
        from ..backends.torch.modules import ConvNd
        x = node.in_types[0]
        ks, ss, ds, ps = self.geometry(x)
        return ConvNd(self.n, x.shape[1].value, self.out_channels, ks, ss, ds, self.groups,
                      self.bias, ps, self.padding_mode)

    def onnx(self, b, node, ins, outs):
        ks, ss, ds, ps = self.geometry(node.in_types[0])
        src = ins[0]
        attrs = dict(kernel_shape=list(ks), strides=list(ss), dilations=list(ds), group=self.groups)
        if None in ps and self.padding_mode == "zeros" and set(ds) == {1}:
            attrs["auto_pad"] = "SAME_UPPER"
        elif None in ps:
            # onnxruntime refuses auto_pad with dilation ("Dilation not supported for
            # AutoPadType::SAME_UPPER"), and reflect/edge/wrap need a Pad anyway.
            src = b.node("Pad", [src, _run_time_pads(b, node, src, ks, ss, ds, ps)],
                         name=f"{node.name}.pad",
                         mode=_ONNX_PAD_MODE.get(self.padding_mode, "constant"))[0]
            attrs["pads"] = [0] * (2 * self.n)
        elif self.padding_mode != "zeros" and any(p != (0, 0) for p in ps):
            full = [0, 0] + [p[0] for p in ps] + [0, 0] + [p[1] for p in ps]
            src = b.node("Pad", [src, b.ints(full, "pads")], name=f"{node.name}.pad",
                         mode=_ONNX_PAD_MODE[self.padding_mode])[0]
            attrs["pads"] = [0] * (2 * self.n)
        else:
            attrs["pads"] = [p[0] for p in ps] + [p[1] for p in ps]
        w = b.param(node, "weight")
        bias = [b.param(node, "bias")] if self.bias else []
        b.node("Conv", [src, w] + bias, outs, name=node.name, **attrs)


def _run_time_pads(b, node, x: str, ks, ss, ds, ps) -> str:
    """ONNX Pad's [0, 0, begins.., 0, 0, ends..]; where window.pads left None (`same`, stride
    > 1, symbolic size) torch's rule on the run-time size S: out = ceil(S/s), total =
    max((out - 1)*s + d*(k-1) + 1 - S, 0), the odd element at the end."""
    def op(kind, *xs):
        return b.node(kind, list(xs), name=f"{node.name}.same")[0]

    begins, ends = [b.ints([0, 0], "pads")], [b.ints([0, 0], "pads")]
    for axis, (p, k, s, d) in enumerate(zip(ps, ks, ss, ds), start=2):
        if p is not None:
            begins.append(b.ints([p[0]], "pads"))
            ends.append(b.ints([p[1]], "pads"))
            continue
        size = b.node("Shape", [x], name=f"{node.name}.size", start=axis, end=axis + 1)[0]
        out = op("Div", op("Add", size, b.ints([s - 1])), b.ints([s]))
        need = op("Sub", op("Add", op("Mul", out, b.ints([s])), b.ints([dilated(k, d) - s])), size)
        total = op("Max", need, b.ints([0]))
        half = op("Div", total, b.ints([2]))
        begins.append(half)
        ends.append(op("Sub", total, half))
    return b.node("Concat", begins + ends, name=f"{node.name}.pads", axis=0)[0]


class _ConvTranspose(Op):
    """conv_transposeNd(out_channels, kernel_size): [N, C, *S] -> [N, out_channels, *S'] with
    S' = (S - 1)*stride - pb - pe + dilation*(k-1) + output_padding + 1 per axis.
    Weight [C, out/groups, *k] (torch layout), bias [out]."""
    n: ClassVar[int]
    positional: ClassVar[tuple[str, ...]] = ("out_channels", "kernel_size")
    out_channels: int
    kernel_size: IntOrTuple
    stride: IntOrTuple = 1
    padding: IntOrTuple = 0
    output_padding: IntOrTuple = 0
    dilation: IntOrTuple = 1
    groups: int = 1
    bias: bool = True

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
        p = {"weight": (x.shape[1].value, self.out_channels // self.groups, *ks)}
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

    def torch(self, node):
        from torch import nn
        ks, ss, ds, ps, ops = self.geometry()
        if any(p[0] != p[1] for p in ps):
            from .base import Unsupported
            raise Unsupported("torch's transposed convolution takes symmetric padding only")
        return getattr(nn, f"ConvTranspose{self.n}d")(
            node.in_types[0].shape[1].value, self.out_channels, ks, ss, tuple(p[0] for p in ps),
            ops, self.groups, self.bias, ds)

    def onnx(self, b, node, ins, outs):
        ks, ss, ds, ps, ops = self.geometry()
        w = b.param(node, "weight")
        bias = [b.param(node, "bias")] if self.bias else []
        b.node("ConvTranspose", [ins[0], w] + bias, outs, name=node.name, kernel_shape=list(ks),
               strides=list(ss), dilations=list(ds), group=self.groups,
               pads=[p[0] for p in ps] + [p[1] for p in ps], output_padding=list(ops))



OPS = tuple(variant(_Conv, f"conv{n}d", n=n) for n in (1, 2, 3)) + \
    tuple(variant(_ConvTranspose, f"conv_transpose{n}d", n=n) for n in (1, 2, 3))
