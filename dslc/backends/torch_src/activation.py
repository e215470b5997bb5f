"""torch-src entries of the activation ops (dslc/ops/activation.py)."""
from __future__ import annotations

from ...ops.activation import (ELU, GELU, Hardtanh, LeakyReLU, Maxout, PReLU, QuickGELU, ReLU,
                               ReLU6, SELU, SiLU, Sigmoid, Softmax, Softplus, Step, Tanh)
from .code import call
from .layout import reshaped
from .table import source


_UNARY = {ReLU: "torch.relu", Sigmoid: "torch.sigmoid", SiLU: "F.silu", Tanh: "torch.tanh",
          SELU: "torch.selu", ReLU6: "F.relu6"}


@source.register(ReLU)
@source.register(Sigmoid)
@source.register(SiLU)
@source.register(Tanh)
@source.register(SELU)
@source.register(ReLU6)
def _unary(op, c):
    c.set(f"{_UNARY[type(op)]}({c.ins[0]})")


@source.register(QuickGELU)
def _quick_gelu(op, c):
    c.set(f"{c.ins[0]} * torch.sigmoid(1.702 * {c.ins[0]})")


@source.register(LeakyReLU)
def _leaky_relu(op, c):
    c.set(call("F.leaky_relu", c.ins[0], op.negative_slope))


@source.register(ELU)
def _elu(op, c):
    c.set(call("F.elu", c.ins[0], op.alpha))


@source.register(GELU)
def _gelu(op, c):
    c.set(call("F.gelu", c.ins[0], **({"approximate": op.approximate}
                                      if op.approximate != "none" else {})))


@source.register(Hardtanh)
def _hardtanh(op, c):
    c.set(call("F.hardtanh", c.ins[0], op.min_val, op.max_val))


@source.register(Softplus)
def _softplus(op, c):
    c.set(call("F.softplus", c.ins[0], op.beta, op.threshold))


@source.register(Step)
def _step(op, c):
    c.set(f"({c.ins[0]} >= 0).to({c.ins[0]}.dtype)")


@source.register(PReLU)
def _prelu(op, c):
    c.module(call("nn.PReLU", op.num_parameters, op.init_value))


@source.register(Softmax)
def _softmax(op, c):
    fn = "torch.softmax" if op.kind == "softmax" else "torch.log_softmax"
    c.set(call(fn, c.ins[0], dim=op.axis))


@source.register(Maxout)
def _maxout(op, c):
    """The max of k consecutive features: a reshape that splits the last axis, then amax."""
    rank = c.node.in_types[0].rank
    c.set(f"torch.amax({reshaped(c.ins[0], op._plan(c.node), c)}, dim={rank}, keepdim=False)")
