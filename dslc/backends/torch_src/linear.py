"""torch-src entries of dense (dslc/ops/linear.py), and weight norm (its and the
convolutions')."""
from __future__ import annotations

from ...ops.base import Unsupported
from ...ops.linear import WEIGHT_G, WEIGHT_V, Dense
from .code import call
from .table import source


def normed(op, c, expr: str) -> str:
    """The layer's constructor `expr`, weight-normed when op.weight_norm (runtime.weight_norm)."""
    if not op.weight_norm:
        return expr
    c.helper("Scope")
    c.helper("weight_norm_hook")
    c.helper("weight_norm")
    return f"weight_norm({expr})"


def tied_weight(op, c) -> str:
    """A tied layer's weight: its owner's, or g * v / ||v|| from the owner's g and v."""
    if not op.weight_norm:
        return c.param("weight")
    if c.node.owner_of(WEIGHT_V) == c.node.name:
        raise Unsupported("a weight-normed layer tied by parameter has no source form")
    return f"torch._weight_norm({c.param(WEIGHT_V)}, {c.param(WEIGHT_G)}, 0)"


@source.register(Dense)
def _dense(op, c):
    """nn.Linear, or TransposedLinear (weight [in, out]); a tied dense is F.linear on its
    owner's weight."""
    width = c.node.in_types[0].shape[-1].value
    if c.tied:
        c.own_params()
        bias = c.param("bias") if op.bias else "None"
        weight = tied_weight(op, c) + (".t()" if op.transpose else "")
        return c.set(f"F.linear({c.ins[0]}, {weight}, {bias})")
    if op.transpose:
        c.helper("TransposedLinear")
        return c.module(normed(op, c, call("TransposedLinear", width, op.out_features, op.bias)))
    c.module(normed(op, c, call("nn.Linear", width, op.out_features,
                                **({} if op.bias else {"bias": False}))))
