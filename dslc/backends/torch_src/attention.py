"""torch-src entries of attention and its companions (dslc/ops/attention.py)."""
from __future__ import annotations

from ...ops.attention import Attention, ClassToken, RMSNorm, SDPA, Select
from .code import call
from .table import source


@source.register(Attention)
def _attention(op, c):
    """runtime.Attention (the interpreter's module's own code), called on (q, k, v[, mask])."""
    for name in ("rotate_half", "rope", "Attention"):
        c.helper(name)
    xs = c.node.in_types
    e, _, ekv, kd, vd = op.dims(*xs)
    c.init(call("Attention", e, op.heads, op.kv_heads or op.heads, ekv, kd, vd, op.bias,
                op.causal, op.rotary, float(op.rope_base), float(op.dropout)))
    n = len(xs) - op.key_padding_mask
    ins = c.ins[:n]
    q, k, v = (ins[0],) * 3 if n == 1 else ((ins[0], ins[1], ins[1]) if n == 2 else ins)
    c.set(f"{c.attr}({', '.join((q, k, v, *c.ins[n:]))})")


@source.register(SDPA)
def _sdpa(op, c):
    c.set(call("F.scaled_dot_product_attention", *c.ins, is_causal=op.causal,
               scale=op.factor(c.node.in_types[0])))


@source.register(ClassToken)
def _class_token(op, c):
    c.helper("ClassToken")
    c.module(call("ClassToken", c.node.in_types[0].shape[2].value))


@source.register(Select)
def _select(op, c):
    c.set(f"{c.ins[0]}.select({op.axis}, {op.index})")


@source.register(RMSNorm)
def _rmsnorm(op, c):
    c.module(call("nn.RMSNorm", c.node.in_types[0].shape[-1].value, eps=op.eps))
