"""torch modules for attention and its companions, with the IR's parameter names."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from ...ops.attention import Attention, ClassToken, Positional, RMSNorm, SDPA, Select
from .table import lowering


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def rope(q, k, base: float):
    """Rotary embedding on [N, h, T, d] tensors (the rotate-half form of GPT-NeoX and LLaMA).
    The tables are computed in float64 for a float64 query, else in float32, then cast to the
    query's dtype (as the ONNX lowering does)."""
    d, t = q.shape[-1], q.shape[-2]
    table = torch.float64 if q.dtype == torch.float64 else torch.float32
    inv = 1.0 / base ** (torch.arange(0, d, 2, device=q.device, dtype=torch.float64) / d)
    inv = inv.to(table)
    freqs = torch.outer(torch.arange(t, device=q.device, dtype=table), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class AttentionModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        xs = node.in_types
        self.heads, self.kv_heads = op.heads, op.kv_heads or op.heads
        self.causal, self.rotary, self.base = op.causal, op.rotary, op.rope_base
        self.dropout = op.dropout       # on the attention weights in train(), as nn.MultiheadAttention
        self.n_tensors = len(xs) - op.key_padding_mask
        self.e, self.d, self.ekv, kd, vd = op.dims(*xs)
        for name, shape in op.params(*xs).items():
            if not name.startswith("out_proj"):
                self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        if not op.bias:
            self.in_proj_bias = None
        self.out_proj = nn.Linear(self.e, self.e, bias=op.bias)

    def _weights(self):
        if hasattr(self, "q_proj_weight"):
            return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return self.in_proj_weight.split([self.e, self.ekv, self.ekv])

    def forward(self, *xs):
        q, k, v = (xs[0],) * 3 if self.n_tensors == 1 else \
            ((xs[0], xs[1], xs[1]) if self.n_tensors == 2 else xs[:3])
        mask = xs[self.n_tensors] if len(xs) > self.n_tensors else None
        wq, wk, wv = self._weights()
        bq, bk, bv = self.in_proj_bias.split([self.e, self.ekv, self.ekv]) \
            if self.in_proj_bias is not None else (None,) * 3
        n, tq, tk = q.shape[0], q.shape[1], k.shape[1]
        q = F.linear(q, wq, bq).view(n, tq, self.heads, self.d).transpose(1, 2)
        k = F.linear(k, wk, bk).view(n, tk, self.kv_heads, self.d).transpose(1, 2)
        v = F.linear(v, wv, bv).view(n, tk, self.kv_heads, self.d).transpose(1, 2)
        if self.rotary:
            q, k = rope(q, k, self.base)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        allowed = None
        if mask is not None:
            allowed = ~mask[:, None, None, :]
        if self.causal:
            tril = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril()
            allowed = tril if allowed is None else allowed & tril
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(n, tq, self.e))


class SDPAModule(nn.Module):
    def __init__(self, causal: bool, scale: float):
        super().__init__()
        self.causal, self.scale = causal, scale

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=self.scale)


class PositionalModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        d = node.in_types[0].shape[2].value
        if op.encoding == "learned":
            self.weight = nn.Parameter(torch.empty(op.max_len, d))
        else:       # a constant, not state: the IR has no parameter or buffer for it
            from .module import torch_dtype
            table = torch.from_numpy(op.table(d)).to(torch_dtype(node.in_types[0].dtype))
            self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        table = self.weight if hasattr(self, "weight") else self.table
        return x + table[: x.shape[1]]


class ClassTokenModule(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, d))

    def forward(self, x):
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)


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


@lowering.register(Positional)
def _positional(op, node):
    return PositionalModule(op, node)


@lowering.register(ClassToken)
def _class_token(op, node):
    return ClassTokenModule(node.in_types[0].shape[2].value)


@lowering.register(Select)
def _select(op, node):
    return SelectModule(op.index, op.axis)


@lowering.register(RMSNorm)
def _rmsnorm(op, node):
    from torch import nn
    return nn.RMSNorm(node.in_types[0].shape[-1].value, eps=op.eps)
