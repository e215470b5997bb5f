"""torch-src entries of dense (dslc/ops/linear.py)."""
from __future__ import annotations

from ...ops.linear import Dense
from .code import call
from .table import source


@source.register(Dense)
def _dense(op, c):
    """nn.Linear, or TransposedLinear (weight [in, out]); a tied dense is F.linear on its
    owner's weight."""
    width = c.node.in_types[0].shape[-1].value
    if c.tied:
        c.own_params()
        bias = c.param("bias") if op.bias else "None"
        weight = c.param("weight") + (".t()" if op.transpose else "")
        return c.set(f"F.linear({c.ins[0]}, {weight}, {bias})")
    if op.transpose:
        c.helper("TransposedLinear")
        return c.module(call("TransposedLinear", width, op.out_features, op.bias))
    c.module(call("nn.Linear", width, op.out_features, **({} if op.bias else {"bias": False})))
