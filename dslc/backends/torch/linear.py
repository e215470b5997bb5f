"""The torch lowerings of the linear ops (dslc/ops/linear.py), and weight norm (theirs and the
convolutions')."""
from __future__ import annotations

from ...ops.linear import Dense
from .table import lowering


def weight_normed(op, module):
    """The layer's module, weight-normed when op.weight_norm (runtime.weight_norm: torch's
    parametrization's names and computation)."""
    from ..torch_src.runtime import weight_norm
    return weight_norm(module) if op.weight_norm else module


@lowering.register(Dense)
def _dense(op, node):
    from torch import nn
    width = node.in_types[0].shape[-1].value
    if op.transpose:
        from ..torch_src.runtime import TransposedLinear
        return weight_normed(op, TransposedLinear(width, op.out_features, op.bias))
    return weight_normed(op, nn.Linear(width, op.out_features, bias=op.bias))
