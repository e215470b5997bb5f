"""The torch lowerings of the linear ops (dslc/ops/linear.py)."""
from __future__ import annotations

from ...ops.linear import Dense
from .table import lowering


@lowering.register(Dense)
def _dense(op, node):
    from torch import nn
    width = node.in_types[0].shape[-1].value
    if op.transpose:
        from ..torch_src.runtime import TransposedLinear
        return TransposedLinear(width, op.out_features, op.bias)
    return nn.Linear(width, op.out_features, bias=op.bias)
