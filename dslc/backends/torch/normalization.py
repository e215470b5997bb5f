"""The torch lowerings of the normalization ops (dslc/ops/normalization.py)."""
from __future__ import annotations

import torch
from torch import nn

from ...ops.normalization import Dropout, DropPath, GroupNorm, InstanceNorm, LayerNorm, _BatchNorm
from .table import lowering


@lowering.register(_BatchNorm)
def _batch_norm(op, node):
    from torch import nn
    x = node.in_types[0]
    n = {2: 1, 3: 1, 4: 2, 5: 3}[x.rank]
    return getattr(nn, f"BatchNorm{n}d")(x.shape[1].value, op.eps, op.momentum,
                                         op.affine, op.track_running_stats)


class AxisLayerNorm(nn.Module):
    """LayerNorm over one axis that is not the last (channels first): weight and bias [C]
    laid along it."""

    def __init__(self, c: int, axis: int, rank: int, eps: float, affine: bool, bias: bool):
        super().__init__()
        self.axis, self.eps, self.along = axis, eps, (-1,) + (1,) * (rank - 1 - axis)
        self.weight = nn.Parameter(torch.ones(c)) if affine else None
        self.bias = nn.Parameter(torch.zeros(c)) if affine and bias else None

    def forward(self, x):
        mean = x.mean(self.axis, keepdim=True)
        var = (x - mean).square().mean(self.axis, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.reshape(self.along)
        return y + self.bias.reshape(self.along) if self.bias is not None else y


class DropPathModule(nn.Module):
    """Stochastic depth: in training, each example dropped whole with probability p, the kept
    ones scaled by 1/(1-p); the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


@lowering.register(LayerNorm)
def _layer_norm(op, node):
    x = node.in_types[0]
    if not op.over_last(x):
        return AxisLayerNorm(op.dims(x)[0], op.channel_axis(x), x.rank, op.eps,
                             op.elementwise_affine, op.bias)
    return nn.LayerNorm(op.dims(x), op.eps, op.elementwise_affine, bias=op.bias)


@lowering.register(GroupNorm)
def _group_norm(op, node):
    return nn.GroupNorm(op.num_groups, node.in_types[0].shape[1].value, op.eps, op.affine)


@lowering.register(InstanceNorm)
def _instance_norm(op, node):
    x = node.in_types[0]
    return getattr(nn, f"InstanceNorm{x.rank - 2}d")(x.shape[1].value, op.eps, affine=op.affine)


@lowering.register(DropPath)
def _drop_path(op, node):
    return DropPathModule(op.p)


@lowering.register(Dropout)
def _dropout(op, node):
    from torch import nn
    return nn.Dropout(op.p)
