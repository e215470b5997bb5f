"""The torch lowerings of the normalization ops (dslc/ops/normalization.py)."""
from __future__ import annotations

from ...ops.normalization import Dropout, LayerNorm, _BatchNorm
from .table import lowering


@lowering.register(_BatchNorm)
def _batch_norm(op, node):
    from torch import nn
    x = node.in_types[0]
    n = {2: 1, 3: 1, 4: 2, 5: 3}[x.rank]
    return getattr(nn, f"BatchNorm{n}d")(x.shape[1].value, op.eps, op.momentum,
                                         op.affine, op.track_running_stats)


@lowering.register(LayerNorm)
def _layer_norm(op, node):
    from torch import nn
    return nn.LayerNorm(op.dims(node.in_types[0]), op.eps, op.elementwise_affine,
                        bias=op.bias)


@lowering.register(Dropout)
def _dropout(op, node):
    from torch import nn
    return nn.Dropout(op.p)
