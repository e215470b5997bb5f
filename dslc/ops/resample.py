"""Resampling and padding layers: upsample, pad, channel_shuffle. No parameters."""
from __future__ import annotations

from typing import ClassVar, Literal, Optional, Union

import math

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, known, need_float, need_rank, ntuple
from .window import pads

_ONNX_PAD_MODE = {"zeros": "constant", "constant": "constant", "reflect": "reflect",
                  "replicate": "edge", "circular": "wrap"}


class Upsample(Op):
    """upsample(scale_factor=2 | size=(h, w), mode=nearest|linear|bilinear|trilinear):
    [N, C, *S] -> [N, C, *S'] with S' = floor(S * scale) or the given size."""
    kind: ClassVar[str] = "upsample"
    positional: ClassVar[tuple[str, ...]] = ("scale_factor",)
    scale_factor: Optional[Union[float, tuple[float, ...]]] = None
    size: Optional[Union[int, tuple[int, ...]]] = None
    mode: Literal["nearest", "linear", "bilinear", "trilinear"] = "nearest"
    align_corners: bool = False

    def shape(self, x):
        need_rank(x, (3, 4, 5), self.kind, "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
        need_float(x, self.kind)
        n = x.rank - 2
        linear = {"linear": 1, "bilinear": 2, "trilinear": 3}.get(self.mode)
        if linear and linear != n:
            raise ShapeError("E301", f"upsample mode {self.mode} needs a {linear}-d input, got "
                             f"{fmt_shape(x.shape)}", culprits=(0,))
        if self.align_corners and self.mode == "nearest":
            raise ShapeError("E205", "align_corners applies to the linear modes, not nearest")
        if (self.scale_factor is None) == (self.size is None):
            raise ShapeError("E204", "upsample takes exactly one of scale_factor and size")
        if self.size is not None:
            return x.with_shape(x.shape[:2] + tuple(Dim.of(v) for v in ntuple(self.size, n, "size")))
        out = []
        for i, (d, s) in enumerate(zip(x.shape[2:], ntuple(self.scale_factor, n, "scale_factor"))):
            if s <= 0:
                raise ShapeError("E205", f"upsample scale_factor must be positive, got {s}")
            if float(s).is_integer():
                out.append(d * int(s))
            else:
                out.append(Dim.of(math.floor(known(d, "the size scaled by a fractional factor") * s)))
        return x.with_shape(x.shape[:2] + tuple(out))

    def _coords(self) -> dict:
        if self.mode == "nearest":
            return dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                        nearest_mode="floor")
        # torch's linear modes: half-pixel centres (pytorch_half_pixel keeps size-1 outputs at 0)
        return dict(mode="linear", coordinate_transformation_mode=(
            "align_corners" if self.align_corners else "pytorch_half_pixel"))


class Pad(Op):
    """pad(padding, mode=zeros|reflect|replicate|circular, value=0): pads the spatial axes
    (all after N, C): S' = S + begin + end. padding: int, per-axis tuple or (begin, end) pairs."""
    kind: ClassVar[str] = "pad"
    positional: ClassVar[tuple[str, ...]] = ("padding",)
    padding: Union[int, tuple[int, ...], tuple[tuple[int, int], ...]]
    mode: Literal["zeros", "constant", "reflect", "replicate", "circular"] = "zeros"
    value: float = 0.0

    def amounts(self, x):
        n = x.rank - 2
        return pads(self.padding, n, (1,) * n, (1,) * n, (1,) * n, x.shape[2:])

    def shape(self, x):
        need_rank(x, (3, 4, 5), self.kind, "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
        if self.value != 0 and self.mode not in ("zeros", "constant"):
            raise ShapeError("E205", f"pad: `value` applies to constant padding, not {self.mode}")
        out = []
        for d, (p0, p1) in zip(x.shape[2:], self.amounts(x)):
            limit = d if self.mode == "reflect" else (d + 1 if self.mode == "circular" else None)
            if limit is not None and d.is_const() and max(p0, p1) >= limit.value:
                raise ShapeError("E303", f"pad: {self.mode} padding of {max(p0, p1)} needs an "
                                 f"input larger than that, got {d}", culprits=(0,))
            out.append(d + p0 + p1)
        return x.with_shape(x.shape[:2] + tuple(out))


class ChannelShuffle(Op):
    """channel_shuffle(groups): [N, C, *S] -> same shape, channels regrouped (ShuffleNet)."""
    kind: ClassVar[str] = "channel_shuffle"
    positional: ClassVar[tuple[str, ...]] = ("groups",)
    groups: int

    def shape(self, x):
        need_rank(x, range(3, 9), self.kind, "[N, C, ...]")
        c = known(x.shape[1], "the channels of channel_shuffle")
        if self.groups < 1 or c % self.groups:
            raise ShapeError("E305", f"channel_shuffle: {self.groups} groups do not divide {c} "
                             "channels", expected=f"a multiple of {self.groups}", got=str(c),
                             culprits=(0,))
        return x


OPS = (Upsample, Pad, ChannelShuffle)
