"""torch modules for attention and its companions, with the IR's parameter names."""
from __future__ import annotations

from torch import nn

from ..torch_src import runtime
from ..torch_src.attention import attention_args
from ...ops.attention import Attention, ClassToken, RMSNorm, SDPA, Select
from .table import lowering


class AttentionModule(runtime.Attention):
    """runtime.Attention (the code --target torch-src copies into its files) on the node's
    inputs: x, (query, memory) or (query, key, value), then the key padding mask, the mask
    and the bias, those given."""

    def __init__(self, op, node):
        # dropout: on the attention weights in train(), as nn.MultiheadAttention
        super().__init__(**attention_args(op, node.in_types))
        xs = node.in_types
        self.n_tensors = op.n_tensors(xs)
        self.extras, self.cached_of = op.extras, op.cached

    def forward(self, *xs):
        n = self.n_tensors
        q, k, v = (xs[0],) * 3 if n == 1 else ((xs[0], xs[1], xs[1]) if n == 2 else xs[:3])
        pad, keep, mask, bias = self.extras(xs[n:])
        extra = [runtime.padding(pad, keep), mask, bias]
        past = self.cached_of(*xs)
        if past:                       # (y, present key, present value)
            return self.cached(q, *past, *extra)
        return super().forward(q, k, v, *extra)


class SDPAModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        self.causal, self.scale = op.causal, op.factor(node.in_types[0])
        self.extras = op.extras

    def forward(self, q, k, v, *xs):
        mask, bias = self.extras(xs)
        return runtime.sdpa(q, k, v, self.causal, self.scale, mask, bias)


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
    return SDPAModule(op, node)


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
