"""torch-src entries of attention and its companions (dslc/ops/attention.py)."""
from __future__ import annotations

from ...ops.attention import Attention, ClassToken, RMSNorm, SDPA, Select
from .code import call
from .table import source


def attention_args(op, xs) -> dict:
    """runtime.Attention's constructor arguments for the node's input types (the interpreter's
    module and the torch-src files build it alike)."""
    from ...ops.attention import alibi_slopes
    e, _, ekv, kd, vd = op.dims(*xs)
    return dict(e=e, heads=op.heads, kv_heads=op.kv_heads or op.heads, ekv=ekv, kdim=kd, vdim=vd,
                biases=list(op.biases()), separate=op.projections == "separate",
                causal=op.causal, window=op.window or 0,
                alibi=alibi_slopes(op.heads) if op.alibi else [], scale=float(op.factor(*xs)),
                rotary_dim=op.rotated(*xs), interleaved=op.rotary_layout == "interleaved",
                base=float(op.rope_base), dropout=float(op.dropout))


@source.register(Attention)
def _attention(op, c):
    """runtime.Attention (the interpreter's module's own code), called on (q, k, v) and the
    key padding mask, mask and bias (None where not given)."""
    for name in ("rotate_half", "rotate_pairs", "rope", "lowest", "padding", "score_terms",
                 "Attention"):
        c.helper(name)
    xs = c.node.in_types
    c.init(call("Attention", **attention_args(op, xs)))
    n = op.n_tensors(xs)
    ins = c.ins[:n]
    q, k, v = (ins[0],) * 3 if n == 1 else ((ins[0], ins[1], ins[1]) if n == 2 else ins)
    pad, keep, mask, bias = (str(e) for e in op.extras(c.ins[n:]))
    extra = [f"padding({pad}, {keep})" if keep != "None" else pad, mask, bias]
    if op.past:        # (y, present key, present value)
        return c.set(f"{c.attr}.cached({', '.join((q, *op.cached(*c.ins), *extra))})")
    c.set(f"{c.attr}({', '.join((q, k, v, *extra))})")


@source.register(SDPA)
def _sdpa(op, c):
    for name in ("lowest", "score_terms", "sdpa"):
        c.helper(name)
    c.set(call("sdpa", *c.ins[:3], op.causal, op.factor(c.node.in_types[0]),
               *(str(e) for e in op.extras(c.ins[3:]))))


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
