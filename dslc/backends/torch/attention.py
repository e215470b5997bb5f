"""torch modules for attention and its companions, with the IR's parameter names."""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..torch_src import runtime
from ...ops.attention import Attention, ClassToken, RMSNorm, SDPA, Select
from .table import lowering


class AttentionModule(runtime.Attention):
    """runtime.Attention (the code --target torch-src copies into its files) on the node's
    inputs: x, (query, memory) or (query, key, value), then the key padding mask if any."""

    def __init__(self, op, node):
        xs = node.in_types
        e, _, ekv, kd, vd = op.dims(*xs)
        # dropout: on the attention weights in train(), as nn.MultiheadAttention
        super().__init__(e, op.heads, op.kv_heads or op.heads, ekv, kd, vd, op.bias, op.causal,
                         op.rotary, op.rope_base, op.dropout)
        self.n_tensors = len(xs) - op.key_padding_mask

    def forward(self, *xs):
        n = self.n_tensors
        q, k, v = (xs[0],) * 3 if n == 1 else ((xs[0], xs[1], xs[1]) if n == 2 else xs[:3])
        return super().forward(q, k, v, xs[n] if len(xs) > n else None)


class SDPAModule(nn.Module):
    def __init__(self, causal: bool, scale: float):
        super().__init__()
        self.causal, self.scale = causal, scale

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=self.scale)


class SelectModule(nn.Module):
    def __init__(self, index: int, axis: int):
        super().__init__()
        self.index, self.axis = index, axis

    def forward(self, x):
        return x.select(self.axis, self.index)


# ---- lowerings ----


@lowering.register(Attention)
def _attention(op, node):
    return AttentionModule(op, node)


@lowering.register(SDPA)
def _sdpa(op, node):
    return SDPAModule(op.causal, op.factor(node.in_types[0]))


@lowering.register(ClassToken)
def _class_token(op, node):
    return runtime.ClassToken(node.in_types[0].shape[2].value)


@lowering.register(Select)
def _select(op, node):
    return SelectModule(op.index, op.axis)


@lowering.register(RMSNorm)
def _rmsnorm(op, node):
    from torch import nn
    return nn.RMSNorm(node.in_types[0].shape[-1].value, eps=op.eps)
