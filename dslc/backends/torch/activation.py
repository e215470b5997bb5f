"""The torch lowerings of the activation ops (dslc/ops/activation.py)."""
from __future__ import annotations

import torch
from torch import nn

from ...ops.activation import ELU, GELU, Hardtanh, LeakyReLU, Maxout, PReLU, QuickGELU, ReLU6, SELU, Softmax, Softplus, Step as StepOp, _Simple
from .table import lowering


@lowering.register(_Simple)
def _simple(op, node):
    from torch import nn
    return getattr(nn, op.torch_name)()


@lowering.register(SELU)
def _selu(op, node):
    from torch import nn
    return nn.SELU()


@lowering.register(ReLU6)
def _relu6(op, node):
    from torch import nn
    return nn.ReLU6()


@lowering.register(LeakyReLU)
def _leaky_relu(op, node):
    from torch import nn
    return nn.LeakyReLU(op.negative_slope)


@lowering.register(ELU)
def _elu(op, node):
    from torch import nn
    return nn.ELU(op.alpha)


@lowering.register(GELU)
def _gelu(op, node):
    from torch import nn
    return nn.GELU(approximate=op.approximate)


@lowering.register(Hardtanh)
def _hardtanh(op, node):
    from torch import nn
    return nn.Hardtanh(op.min_val, op.max_val)


@lowering.register(Softplus)
def _softplus(op, node):
    from torch import nn
    return nn.Softplus(op.beta, op.threshold)


@lowering.register(StepOp)
def _step(op, node):
    from .modules import Step
    return Step()


@lowering.register(PReLU)
def _prelu(op, node):
    from torch import nn
    return nn.PReLU(op.num_parameters, op.init_value)


@lowering.register(Softmax)
def _softmax(op, node):
    from torch import nn
    return (nn.Softmax if op.kind == "softmax" else nn.LogSoftmax)(dim=op.axis)


@lowering.register(Maxout)
def _maxout(op, node):
    from torch import nn

    from .modules import Reshape
    from .reduce import Reduce
    rank = node.in_types[0].rank
    return nn.Sequential(Reshape(op._plan(node)), Reduce("amax", (rank,), False))


class QuickGELUModule(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


@lowering.register(QuickGELU)
def _quick_gelu(op, node):
    return QuickGELUModule()
