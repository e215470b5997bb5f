"""The torch lowerings of the normalization ops (dslc/ops/normalization.py)."""
from __future__ import annotations

from torch import nn

from ...ops.normalization import Dropout, DropPath, GroupNorm, InstanceNorm, LayerNorm, _BatchNorm
from ..torch_src.runtime import AxisLayerNorm, drop_path
from .table import lowering


@lowering.register(_BatchNorm)
def _batch_norm(op, node):
    from torch import nn
    x = node.in_types[0]
    n = {2: 1, 3: 1, 4: 2, 5: 3}[x.rank]
    return getattr(nn, f"BatchNorm{n}d")(x.shape[1].value, op.eps, op.momentum,
                                         op.affine, op.track_running_stats)


class DropPathModule(nn.Module):
    """Stochastic depth (runtime.drop_path): the identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return drop_path(x, self.p, self.training)


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
