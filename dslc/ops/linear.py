"""Fully connected layers."""
from __future__ import annotations

from typing import ClassVar

from ..ir.dims import Dim
from .base import Op, need_float, need_rank, known

# torch.nn.utils.parametrizations.weight_norm(module, dim=0)'s names for g and v
WEIGHT_G = "parametrizations.weight.original0"
WEIGHT_V = "parametrizations.weight.original1"


def weight_params(shape: tuple[int, ...], weight_norm: bool) -> dict[str, tuple[int, ...]]:
    """A layer's `weight`, or with weight_norm torch's parametrization of it along dim 0
    (weight = g * v / ||v||, the norm over every dim but 0, g [shape[0], 1, ...] and v of the
    weight's shape), v first: a bare `init=` sets v, and g follows as ||v||."""
    if not weight_norm:
        return {"weight": shape}
    return {WEIGHT_V: shape, WEIGHT_G: (shape[0],) + (1,) * (len(shape) - 1)}


def v_norm(v):
    """||v|| over every dim but 0, dims kept: weight norm's g at init (torch's rule)."""
    import numpy as np
    return np.sqrt(np.sum(np.square(v, dtype=np.float64), axis=tuple(range(1, v.ndim)),
                          keepdims=True)).astype(np.float32)


class WeightNormed(Op):
    """An op with a `weight_norm: bool` field (declared last among its own): g derives from v."""

    def derived(self, name: str):
        return (WEIGHT_V, v_norm) if self.weight_norm and name == WEIGHT_G else None


class Dense(WeightNormed):
    """dense(out_features): [*, in] -> [*, out_features]; weight [out, in] (torch layout), or
    [in, out] with transpose=true (y = x W + b: a decoder tied to its encoder's weight,
    `dense(6, tie={weight: enc}, transpose=true)`); bias [out]. weight_norm=true: the weight is
    g * v / ||v|| (torch.nn.utils.parametrizations.weight_norm(dim=0): the norm over every dim
    but the stored weight's first, its names `parametrizations.weight.original0` for g [out, 1]
    and `.original1` for v; at init v is the plain layer's weight and g = ||v||)."""
    kind: ClassVar[str] = "dense"
    positional: ClassVar[tuple[str, ...]] = ("out_features",)
    out_features: int
    bias: bool = True
    transpose: bool = False
    weight_norm: bool = False

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
        p = weight_params((self.out_features, x.shape[-1].value)[::-1 if self.transpose else 1],
                          self.weight_norm)
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
