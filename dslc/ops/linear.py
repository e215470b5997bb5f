"""Fully connected layers."""
from __future__ import annotations

from typing import ClassVar

from ..ir.dims import Dim
from .base import Op, need_float, need_rank, known


class Dense(Op):
    """dense(out_features): [*, in] -> [*, out_features]; weight [out, in] (torch layout), or
    [in, out] with transpose=true (y = x W + b: a decoder tied to its encoder's weight,
    `dense(6, tie={weight: enc}, transpose=true)`); bias [out]."""
    kind: ClassVar[str] = "dense"
    positional: ClassVar[tuple[str, ...]] = ("out_features",)
    out_features: int
    bias: bool = True
    transpose: bool = False

    def shape(self, x):
        need_rank(x, range(2, 9), "dense", "[N, ..., features]")
        need_float(x, "dense")
        if self.out_features < 1:
            from .base import ShapeError
            raise ShapeError("E205", f"dense needs at least one output feature, got {self.out_features}")
        known(x.shape[-1], "the input width of dense", help="dense needs a known input width: "
              "flatten a tensor whose other dims are numbers, or pool to a fixed size first")
        return x.with_shape(x.shape[:-1] + (Dim.of(self.out_features),))

    def params(self, x):
        p = {"weight": (self.out_features, x.shape[-1].value)[::-1 if self.transpose else 1]}
        if self.bias:
            p["bias"] = (self.out_features,)
        return p

    def macs(self, xs, ys):
        """rows * in * out_features, rows = the product of every input dim but the last."""
        x = xs[0]
        rows = Dim.of(1)
        for d in x.shape[:-1]:
            rows = rows * d
        return rows * (x.shape[-1].value * self.out_features)

    def init(self, name, shape, xs, rng):
        from .base import torch_uniform
        return torch_uniform(shape, xs[0].shape[-1].value, rng)


OPS = (Dense,)
