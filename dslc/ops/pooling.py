"""Poolings: windowed max/avg, adaptive (torch's start/end rule) and global."""
from __future__ import annotations

from typing import ClassVar, Optional, Union

from ..ir.dims import Dim
from .base import Op, ShapeError, need_float, need_rank, ntuple, variant
from .window import axis_name, check_fits, out_size, pads

IntOrTuple = Union[int, tuple[int, ...]]


def _layout(n: int) -> str:
    return "[N, C, " + ", ".join(axis_name(i, n)[0].upper() for i in range(n)) + "]"


def _rank_n(op, x) -> int:
    """The spatial rank: fixed by the op (maxpool2d) or by the input (maxpool)."""
    if op.n:
        need_rank(x, op.n + 2, op.kind, _layout(op.n))
        return op.n
    need_rank(x, (3, 4, 5), op.kind, "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
    return x.rank - 2


class _Pool(Op):
    """maxpoolNd/avgpoolNd(kernel_size, stride=kernel_size): [N, C, *S] -> [N, C, *S'] with
    S' = floor((S + 2p - dilation*(k-1) - 1) / stride) + 1 (ceil with ceil_mode, and then the
    last window must start inside the input or the left padding). No parameters."""
    n: ClassVar[int] = 0
    onnx_type: ClassVar[str]
    positional: ClassVar[tuple[str, ...]] = ("kernel_size",)
    kernel_size: IntOrTuple
    stride: Optional[IntOrTuple] = None
    padding: IntOrTuple = 0
    ceil_mode: bool = False

    def geometry(self, x):
        n = _rank_n(self, x)
        ks = ntuple(self.kernel_size, n, "kernel_size")
        ss = ntuple(self.stride if self.stride is not None else self.kernel_size, n, "stride")
        ds = ntuple(getattr(self, "dilation", 1), n, "dilation")
        ps = pads(self.padding, n, ks, ss, ds, x.shape[2:])
        if min(ks + ss + ds) < 1:
            raise ShapeError("E205", f"{self.kind}: kernel_size, stride and dilation must be >= 1")
        for k, (p, _) in zip(ks, ps):
            if p > k // 2:   # torch refuses this; ONNX would silently pool pure padding
                raise ShapeError("E205", f"{self.kind}: padding {p} is more than half the kernel {k}",
                                 expected=f"padding <= {k // 2}", got=str(p))
        return n, ks, ss, ds, ps

    def shape(self, x):
        need_float(x, self.kind)
        n, ks, ss, ds, ps = self.geometry(x)
        spatial = []
        for i, (size, p, k, s, d) in enumerate(zip(x.shape[2:], ps, ks, ss, ds)):
            o = out_size(size, p, k, s, d, self.ceil_mode)
            check_fits(self.kind, size, p, k, d, o, axis_name(i, n))
            spatial.append(o)
        return x.with_shape(x.shape[:2] + tuple(spatial))


class _MaxPool(_Pool):
    __doc__ = _Pool.__doc__
    torch_name: ClassVar[str] = "MaxPool"
    onnx_type: ClassVar[str] = "MaxPool"
    dilation: IntOrTuple = 1


class _AvgPool(_Pool):
    __doc__ = _Pool.__doc__
    torch_name: ClassVar[str] = "AvgPool"
    onnx_type: ClassVar[str] = "AveragePool"
    precise: ClassVar[bool] = True       # means accumulate in f32 (torch's CPU lacks f16 3-d)
    count_include_pad: bool = True


class _Adaptive(Op):
    """adaptive_{avg,max}poolNd(output_size): [N, C, *S] -> [N, C, *output_size]; window i of
    an axis covers [floor(i*S/o), ceil((i+1)*S/o)), as torch defines it. No parameters."""
    n: ClassVar[int] = 0
    reduce: ClassVar[str]
    positional: ClassVar[tuple[str, ...]] = ("output_size",)
    output_size: IntOrTuple

    def shape(self, x):
        need_float(x, self.kind)
        n = _rank_n(self, x)
        outs = ntuple(self.output_size, n, "output_size")
        if min(outs) < 1:
            raise ShapeError("E205", f"{self.kind}: output sizes must be >= 1, got {self.output_size}")
        return x.with_shape(x.shape[:2] + tuple(Dim.of(o) for o in outs))


class _Global(Op):
    """global_{avg,max}pool: [N, C, *S] -> [N, C, 1, ...] (dims kept). No parameters."""
    reduce: ClassVar[str]

    def shape(self, x):
        need_rank(x, (3, 4, 5), self.kind, "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
        need_float(x, self.kind)
        return x.with_shape(x.shape[:2] + (Dim.of(1),) * (x.rank - 2))


class _AdaptiveAvg(_Adaptive):
    __doc__ = _Adaptive.__doc__
    reduce: ClassVar[str] = "mean"
    precise: ClassVar[bool] = True


class _AdaptiveMax(_Adaptive):
    __doc__ = _Adaptive.__doc__
    reduce: ClassVar[str] = "max"


def _family(base, prefix: str) -> tuple:
    """The rank-inferring op and its 1d/2d/3d forms: maxpool, maxpool1d, maxpool2d, maxpool3d."""
    return tuple(variant(base, prefix + (f"{n}d" if n else ""), n=n) for n in (0, 1, 2, 3))


OPS = (*_family(_MaxPool, "maxpool"), *_family(_AvgPool, "avgpool"),
       *_family(_AdaptiveAvg, "adaptive_avgpool"), *_family(_AdaptiveMax, "adaptive_maxpool"),
       variant(_Global, "global_avgpool", reduce="mean", precise=True),
       variant(_Global, "global_maxpool", reduce="max"))
