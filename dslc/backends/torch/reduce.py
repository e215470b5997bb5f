"""torch modules for the reductions (dslc/ops/reduce.py). Axes arrive normalised (sorted,
non-negative); every module takes the node's one input."""
from __future__ import annotations

import torch
from torch import nn
from ...ops.reduce import Norm, Var, _ArgReduce, _IntegerAccumulating, _Reduce
from .table import lowering


class Reduce(nn.Module):
    """torch.<name>(x, dim=axes, keepdim): sum, mean, amax, amin, logsumexp; prod (whose torch
    form takes one dim) reduces the axes one at a time, last first, so the others keep their
    indices. `to_i64`: accumulate an integer or bool input in int64, as torch's sum does."""

    def __init__(self, name: str, axes: tuple[int, ...], keepdim: bool, to_i64: bool = False):
        super().__init__()
        self.name, self.axes, self.keepdim, self.to_i64 = name, tuple(axes), keepdim, to_i64

    def forward(self, x):
        if self.to_i64:
            x = x.to(torch.int64)
        if self.name == "prod":
            for a in reversed(self.axes):
                x = torch.prod(x, dim=a, keepdim=self.keepdim)
            return x
        if not self.axes:       # a rank-0 input: nothing to reduce
            return x
        return getattr(torch, self.name)(x, dim=self.axes, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"{self.name}, dim={self.axes}, keepdim={self.keepdim}"


class Variance(nn.Module):
    """torch.var / torch.std over `axes` with `correction` (N - correction in the denominator)."""

    def __init__(self, axes: tuple[int, ...], correction, keepdim: bool, sqrt: bool):
        super().__init__()
        self.axes, self.correction, self.keepdim, self.sqrt = tuple(axes), correction, keepdim, sqrt

    def forward(self, x):
        fn = torch.std if self.sqrt else torch.var
        return fn(x, dim=self.axes, correction=self.correction, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"{'std' if self.sqrt else 'var'}, dim={self.axes}, correction={self.correction}, " \
               f"keepdim={self.keepdim}"


class VectorNorm(nn.Module):
    """torch.linalg.vector_norm(x, ord=p, dim=axes, keepdim)."""

    def __init__(self, p: float, axes: tuple[int, ...], keepdim: bool):
        super().__init__()
        self.p, self.axes, self.keepdim = p, tuple(axes), keepdim

    def forward(self, x):
        return torch.linalg.vector_norm(x, ord=self.p, dim=self.axes or None, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"p={self.p}, dim={self.axes}, keepdim={self.keepdim}"


class ArgReduce(nn.Module):
    """torch.argmax / torch.argmin along `axis` (None: the flattened tensor); the first index
    on ties."""

    def __init__(self, kind: str, axis: int | None, keepdim: bool):
        super().__init__()
        self.kind, self.axis, self.keepdim = kind, axis, keepdim

    def forward(self, x):
        return getattr(torch, self.kind)(x, dim=self.axis, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"{self.kind}, dim={self.axis}, keepdim={self.keepdim}"


# ---- lowerings ----


@lowering.register(_Reduce)
def _reduce_op(op, node):
    return Reduce(op.torch_name, op.axes(node.in_types[0]), op.keepdim)


@lowering.register(_IntegerAccumulating)
def _integer_accumulating(op, node):
    t = node.in_types[0]
    return Reduce(op.torch_name, op.axes(t), op.keepdim,
                  to_i64=node.out_types[0].dtype == "i64")


@lowering.register(Var)
def _var(op, node):
    return Variance(op.axes(node.in_types[0]), op.correction, op.keepdim,
                    sqrt=op.kind == "std")


@lowering.register(Norm)
def _norm(op, node):
    return VectorNorm(op.order, op.axes(node.in_types[0]), op.keepdim)


@lowering.register(_ArgReduce)
def _arg_reduce(op, node):
    return ArgReduce(op.kind, op.axis if op.axis is None else op.axes(node.in_types[0])[0],
                     op.keepdim)
