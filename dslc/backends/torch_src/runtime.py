"""Helpers that `--target torch-src` copies, as source, into the files it writes (only those a
model uses; see writer.py). Each one imports nothing but torch, typing and math, scripts with
torch.jit.script, and holds the same parameters at the same names as the interpreter's module
for the op, so state_dicts carry over. The interpreter runs some of them itself, so that code is
written once: attention (backends/torch/attention.py subclasses Attention), ClassToken,
TransposedLinear, AxisLayerNorm, CroppedConvTranspose, drop_path, flat_pads, same_pads and weight_norm
(backends/torch/modules.py, normalization.py, linear.py)."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class Scope(nn.Module):
    """A namespace of layers (a block called inline, a name with dots): its children hold the
    parameters; the module that owns it runs them."""

    def __init__(self, **children: nn.Module):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


class Weights(nn.Module):
    """Parameters of given shapes and nothing else (a tied layer's own bias; `param(...)`)."""

    def __init__(self, **shapes: List[int]):
        super().__init__()
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))


def weight_norm_hook(module: nn.Module, args: Tuple[torch.Tensor]) -> None:
    """weight_norm's forward pre-hook: the module's weight from g and v (torch._weight_norm,
    the computation of torch's own parametrization)."""
    p = module.parametrizations.weight
    module.weight = torch._weight_norm(p.original1, p.original0, 0)


def weight_norm(module: nn.Module) -> nn.Module:
    """torch.nn.utils.parametrizations.weight_norm(module, dim=0) with its state_dict names
    (g `parametrizations.weight.original0` = ||weight|| over every dim but 0, v `.original1` =
    weight), in a form that scripts and pickles (a parametrized class does neither): the
    weight becomes a plain attribute that a forward pre-hook computes as g * v / ||v||."""
    v = module.weight.detach()
    del module.weight
    p = nn.Module()
    p.original0 = nn.Parameter(torch.linalg.vector_norm(v, dim=list(range(1, v.dim())),
                                                        keepdim=True))
    p.original1 = nn.Parameter(v)
    module.parametrizations = Scope(weight=p)
    module.weight = v
    module.register_forward_pre_hook(weight_norm_hook)
    return module


class Param(nn.Module):
    """param([...]): a learned tensor of its own; forward() returns it."""

    def __init__(self, shape: List[int]):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))

    def forward(self) -> torch.Tensor:
        return self.weight


class TransposedLinear(nn.Module):
    """y = x W + b with W stored [in, out] (dense(transpose=true))."""

    def __init__(self, in_features: int, out_features: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight.t(), self.bias)


class ClassToken(nn.Module):
    """class_token: a learned [1, 1, D] token put before the sequence: [N, T, D] -> [N, T+1, D]."""

    def __init__(self, d: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)


def table_rows(table: torch.Tensor, x: torch.Tensor, offset: int,
               ids: Optional[torch.Tensor]) -> torch.Tensor:
    """positional: x [N, T, D] plus the table's rows offset .. offset+T-1, or with position ids
    [N or 1, T] its rows offset + ids."""
    if ids is None:
        return x + table[offset: offset + x.shape[1]]
    return x + F.embedding(ids.long() + offset, table)


class LearnedPositions(nn.Module):
    """positional(learned): x + weight[offset:offset+T] (or weight[offset + ids]) with weight
    [max_len, D]."""

    def __init__(self, max_len: int, d: int, offset: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, d))
        self.offset = offset

    def forward(self, x: torch.Tensor, ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return table_rows(self.weight, x, self.offset, ids)


class SinusoidalPositions(nn.Module):
    """positional(sinusoidal | whisper): x + table[offset:offset+T] (or table[offset + ids]),
    the table [max_len, D] computed in float64 and cast to `dtype`, a constant, not state.
    sinusoidal: sin on even features, cos on odd ones (Vaswani et al.); whisper: sin on the
    first D/2 features, cos on the rest, frequencies 10000^(-i/(D/2 - 1)) (Whisper's
    sinusoids())."""

    def __init__(self, max_len: int, d: int, dtype: torch.dtype, encoding: str = "sinusoidal",
                 offset: int = 0):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float64)[:, None]
        if encoding == "whisper":
            inv = torch.exp(-math.log(10000.0) / (d // 2 - 1)
                            * torch.arange(d // 2, dtype=torch.float64))
            table = torch.cat([torch.sin(pos * inv), torch.cos(pos * inv)], dim=1)
        else:
            div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
            table = torch.zeros(max_len, d, dtype=torch.float64)
            table[:, 0::2] = torch.sin(pos * div)
            table[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
        self.register_buffer("table", table.to(dtype), persistent=False)
        self.offset = offset

    def forward(self, x: torch.Tensor, ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        return table_rows(self.table, x, self.offset, ids)


class AxisLayerNorm(nn.Module):
    """LayerNorm over one axis that is not the last (channels first, ConvNeXt's): weight and
    bias [C] laid along it."""

    def __init__(self, c: int, axis: int, rank: int, eps: float, affine: bool, bias: bool):
        super().__init__()
        self.axis, self.eps = axis, eps
        self.along = [-1] + [1] * (rank - 1 - axis)
        self.weight = nn.Parameter(torch.ones(c)) if affine else None
        self.bias = nn.Parameter(torch.zeros(c)) if affine and bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(self.axis, keepdim=True)
        var = (x - mean).square().mean(self.axis, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight.reshape(self.along)
        if self.bias is not None:
            y = y + self.bias.reshape(self.along)
        return y


class CroppedConvTranspose(nn.Module):
    """A transposed convolution with (begin, end) pads per axis that may differ: torch's layer
    pads both ends alike, so this computes the unpadded result and crops each axis's begin and
    end rows, as ONNX ConvTranspose's pads do. Parameters as nn.ConvTransposeNd's."""

    def __init__(self, n: int, c_in: int, c_out: int, ks: List[int], ss: List[int],
                 ds: List[int], crops: List[List[int]], out_pad: List[int], groups: int,
                 bias: bool):
        super().__init__()
        self.n, self.ss, self.ds, self.out_pad, self.groups = n, ss, ds, out_pad, groups
        self.crops = [[int(b), int(e)] for b, e in crops]
        self.weight = nn.Parameter(torch.empty([c_in, c_out // groups] + ks))
        self.bias = nn.Parameter(torch.empty(c_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.n == 1:
            y = F.conv_transpose1d(x, self.weight, self.bias, self.ss, 0, self.out_pad,
                                   self.groups, self.ds)
        elif self.n == 2:
            y = F.conv_transpose2d(x, self.weight, self.bias, self.ss, 0, self.out_pad,
                                   self.groups, self.ds)
        else:
            y = F.conv_transpose3d(x, self.weight, self.bias, self.ss, 0, self.out_pad,
                                   self.groups, self.ds)
        for i in range(len(self.crops)):
            b, e = self.crops[i][0], self.crops[i][1]
            y = y.narrow(2 + i, b, y.shape[2 + i] - b - e)
        return y


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: in training each example (axis 0) dropped whole with probability p,
    the kept ones scaled by 1/(1-p); the identity otherwise."""
    if not training or p == 0.0:
        return x
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    keep = torch.rand(shape, device=x.device) >= p
    return x * keep.to(x.dtype) / (1.0 - p)


def flat_pads(pads: List[Tuple[int, int]]) -> List[int]:
    """[(begin, end) per spatial axis] -> F.pad's order: last axis first."""
    out: List[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


def same_pads(x: torch.Tensor, ks: List[int], ss: List[int], ds: List[int]) -> List[int]:
    """`same` padding from the run-time size, in F.pad's order (last axis first)."""
    pads: List[int] = []
    for i in range(len(ks) - 1, -1, -1):
        size = x.shape[2 + i]
        total = max((-(-size // ss[i]) - 1) * ss[i] + ds[i] * (ks[i] - 1) + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): the interleaved layout's rotation."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)


def rope(q: torch.Tensor, k: torch.Tensor, base: float, dim: int, interleaved: bool,
         offset: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rotary embedding on [N, h, T, d] of the first `dim` features of each head: keys at
    positions offset..offset+Tk-1 (offset: the cached keys before them), queries at the last
    Tq of those (the tables cover those positions only); rotate-half layout or interleaved
    pairs. Tables in float64 for a float64
    query, else float32, then cast to its dtype."""
    tq, tk = q.shape[-2], k.shape[-2]
    table = torch.float64 if q.dtype == torch.float64 else torch.float32
    inv = 1.0 / base ** (torch.arange(0, dim, 2, device=q.device, dtype=torch.float64) / dim)
    positions = torch.arange(offset, offset + tk, device=q.device, dtype=table)
    freqs = torch.outer(positions, inv.to(table))
    emb = freqs.repeat_interleave(2, dim=-1) if interleaved else torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)
    out: List[torch.Tensor] = []
    for x, first in ((q, tk - tq), (k, 0)):
        c, s = cos[first:], sin[first:]
        r = x[..., :dim]
        turned = rotate_pairs(r) if interleaved else rotate_half(r)
        out.append(torch.cat([r * c + turned * s, x[..., dim:]], dim=-1))
    return out[0], out[1]


def lowest(dtype: torch.dtype) -> float:
    """The most negative finite number of a float dtype (a masked score)."""
    return -1.7976931348623157e308 if dtype == torch.float64 else -3.4028234663852886e38


def padding(key_padding_mask: Optional[torch.Tensor],
            attention_mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """The keys to ignore (true = pad) from torch's key padding mask and Hugging Face's
    attention mask (0 = pad), either or both."""
    if attention_mask is None:
        return key_padding_mask
    pad = attention_mask == 0
    return pad if key_padding_mask is None else key_padding_mask | pad


def score_terms(tq: int, tk: int, dtype: torch.dtype, device: torch.device, causal: bool,
                window: int, slopes: Optional[torch.Tensor], key_padding_mask: Optional[torch.Tensor],
                mask: Optional[torch.Tensor], bias: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """What attention adds to the scaled scores [N, h, Tq, Tk]: the given bias, ALiBi's
    -slope * |j - i| (queries at the last Tq key positions), then the dtype's lowest number
    where a mask forbids the key (causal: j <= i; window: also j > i - window; the key
    padding mask: true = pad; mask: true = attend); None when there is nothing to add."""
    add: Optional[torch.Tensor] = None if bias is None else bias.to(dtype)
    i = torch.arange(tq, device=device)[:, None] + (tk - tq)
    j = torch.arange(tk, device=device)[None, :]
    if slopes is not None:
        alibi = -slopes.to(dtype)[:, None, None] * (j - i).abs().to(dtype)
        add = alibi if add is None else add + alibi
    allowed: Optional[torch.Tensor] = mask
    if key_padding_mask is not None:
        keep = ~key_padding_mask[:, None, None, :]
        allowed = keep if allowed is None else allowed & keep
    if causal:
        band = j <= i
        if window > 0:
            band = band & (j > i - window)
        allowed = band if allowed is None else allowed & band
    if allowed is not None:
        fill = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, lowest(dtype))
        add = fill if add is None else add + fill
    return add


class Attention(nn.Module):
    """Multi-head attention. Projections packed as nn.MultiheadAttention's (in_proj_weight
    [3E, E], or q/k/v_proj_weight when key/value widths differ; in_proj_bias; out_proj) or
    separate (q_proj, k_proj, v_proj, out_proj: nn.Linear each, Hugging Face's layout); grouped
    key/value heads; causal and sliding-window masks, a key padding mask (True = padding), a
    bool mask (True = attend), an additive bias, ALiBi; rotary embedding of the first
    `rotary_dim` features of each head; dropout on the attention weights in training mode."""

    def __init__(self, e: int, heads: int, kv_heads: int, ekv: int, kdim: int, vdim: int,
                 biases: List[bool], separate: bool, causal: bool, window: int,
                 alibi: List[float], scale: float, rotary_dim: int, interleaved: bool,
                 base: float, dropout: float):
        super().__init__()
        self.e, self.heads, self.kv_heads, self.ekv = e, heads, kv_heads, ekv
        self.d = e // heads
        self.causal, self.window, self.scale, self.dropout = causal, window, scale, dropout
        self.rotary_dim, self.interleaved, self.base = rotary_dim, interleaved, base
        if separate:
            self.q_proj = nn.Linear(e, e, bias=biases[0])
            self.k_proj = nn.Linear(kdim, ekv, bias=biases[1])
            self.v_proj = nn.Linear(vdim, ekv, bias=biases[2])
        elif ekv == e and kdim == e and vdim == e:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * e, e))
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(e, e))
            self.k_proj_weight = nn.Parameter(torch.empty(ekv, kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(ekv, vdim))
        if not separate:
            self.in_proj_bias = nn.Parameter(torch.empty(e + 2 * ekv)) if biases[0] else None
        self.out_proj = nn.Linear(e, e, bias=biases[3])
        # ALiBi's slopes: a constant, not state
        self.register_buffer("slopes", torch.tensor(alibi, dtype=torch.float64) if alibi else None, persistent=False)

    def _project(self, q: torch.Tensor, k: torch.Tensor,
                 v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if hasattr(self, "q_proj"):
            return self.q_proj(q), self.k_proj(k), self.v_proj(v)
        if hasattr(self, "in_proj_weight"):
            ws = self.in_proj_weight.split([self.e, self.ekv, self.ekv])
            wq, wk, wv = ws[0], ws[1], ws[2]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        bq: Optional[torch.Tensor] = None
        bk: Optional[torch.Tensor] = None
        bv: Optional[torch.Tensor] = None
        bias = self.in_proj_bias
        if bias is not None:
            b = bias.split([self.e, self.ekv, self.ekv])
            bq, bk, bv = b[0], b[1], b[2]
        return F.linear(q, wq, bq), F.linear(k, wk, bk), F.linear(v, wv, bv)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
                bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        q, k, v = self._heads(q, k, v, 0)
        return self._attend(q, k, v, key_padding_mask, mask, bias)

    def cached(self, x: torch.Tensor, past_key: torch.Tensor, past_value: torch.Tensor,
               key_padding_mask: Optional[torch.Tensor] = None, mask: Optional[torch.Tensor] = None,
               bias: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Self-attention of x after the cached keys and values [N, kv_heads, P, d]: (y, the
        keys and values with x's appended)."""
        q, k, v = self._heads(x, x, x, past_key.shape[2])
        k, v = torch.cat([past_key, k], dim=2), torch.cat([past_value, v], dim=2)
        return self._attend(q, k, v, key_padding_mask, mask, bias), k, v

    def _heads(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               offset: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The projections split into heads [N, h, T, d], q and k rotated (the keys at
        positions offset..)."""
        n, tq, tk = q.shape[0], q.shape[1], k.shape[1]
        q, k, v = self._project(q, k, v)
        q = q.view(n, tq, self.heads, self.d).transpose(1, 2)
        k = k.view(n, tk, self.kv_heads, self.d).transpose(1, 2)
        v = v.view(n, tk, self.kv_heads, self.d).transpose(1, 2)
        if self.rotary_dim > 0:
            q, k = rope(q, k, self.base, self.rotary_dim, self.interleaved, offset)
        return q, k, v

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: Optional[torch.Tensor], mask: Optional[torch.Tensor],
                bias: Optional[torch.Tensor]) -> torch.Tensor:
        n, tq, tk = q.shape[0], q.shape[2], k.shape[2]
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        add = score_terms(tq, tk, q.dtype, q.device, self.causal, self.window, self.slopes,
                          key_padding_mask, mask, bias)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=add, scale=self.scale,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(n, tq, self.e))


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float,
         mask: Optional[torch.Tensor], bias: Optional[torch.Tensor]) -> torch.Tensor:
    """sdpa's: torch's scaled_dot_product_attention with attention's masking rules (queries
    the last Tq of the Tk positions; a masked score the lowest finite number)."""
    add = score_terms(q.shape[-2], k.shape[-2], q.dtype, q.device, causal, 0, None, None, mask,
                      bias)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=add, scale=scale)


def reflect_index(i: torch.Tensor, size: int) -> torch.Tensor:
    """Positions folded into [0, size) by reflection without repeating the edge."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i < size, i, period - i)


def phase_shuffle(x: torch.Tensor, n: int, training: bool) -> torch.Tensor:
    """WaveGAN's phase shuffle on [N, C, L]: in training mode example k shifted by s_k drawn
    from [-n, n] (torch's global generator), edges reflected; in eval mode the identity."""
    if not training or n == 0:
        return x
    batch, channels, size = x.shape[0], x.shape[1], x.shape[2]
    shifts = torch.randint(-n, n + 1, (batch,), device=x.device)
    t = torch.arange(size, device=x.device)
    index = reflect_index(t[None, :] - shifts[:, None], size)
    return torch.gather(x, 2, index[:, None, :].expand(batch, channels, size))


def _plus(x: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
    return x if b is None else x + b


def loop_direction(kind: str, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                   wi: torch.Tensor, wh: torch.Tensor, bi: Optional[torch.Tensor],
                   bh: Optional[torch.Tensor], peep: Optional[torch.Tensor], reverse: bool,
                   mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One layer and direction of gru(reset=before) ("gru": the reset gate applied to h before
    the product) or lstm(peephole=true) ("lstm": input/forget gates see c, the output gate
    the new c), step by step over axis 1. mask [N, T] is 1 on real steps: padded steps keep
    the state and output zeros. Returns (outputs [N, T, H], final h, final c)."""
    H = h.shape[-1]
    steps = x.shape[1]
    outs: List[torch.Tensor] = [h] * steps
    order = list(range(steps))
    if reverse:
        order.reverse()
    for t in order:
        g, m = _plus(x[:, t] @ wi.t(), bi), mask[:, t:t + 1]
        if kind == "gru":
            r = torch.sigmoid(g[:, :H] + _plus(h @ wh[:H].t(), None if bh is None else bh[:H]))
            z = torch.sigmoid(g[:, H:2 * H] + _plus(h @ wh[H:2 * H].t(),
                                                     None if bh is None else bh[H:2 * H]))
            n = torch.tanh(g[:, 2 * H:] + _plus((r * h) @ wh[2 * H:].t(),
                                                 None if bh is None else bh[2 * H:]))
            h2, c2 = (1 - z) * n + z * h, c
        else:
            assert peep is not None
            a = g + _plus(h @ wh.t(), bh)
            i = torch.sigmoid(a[:, :H] + peep[:H] * c)
            f = torch.sigmoid(a[:, H:2 * H] + peep[H:2 * H] * c)
            c2 = f * c + i * torch.tanh(a[:, 2 * H:3 * H])
            o = torch.sigmoid(a[:, 3 * H:] + peep[2 * H:] * c2)
            h2 = o * torch.tanh(c2)
        h = m * h2 + (1 - m) * h
        c = m * c2 + (1 - m) * c
        outs[t] = h * m
    return torch.stack(outs, dim=1), h, c


class Arange(nn.Module):
    """arange with known bounds: the values, a constant buffer (it follows the module's
    device), not state."""

    def __init__(self, start: int, end: int, step: int, dtype: torch.dtype):
        super().__init__()
        self.register_buffer("values", torch.arange(start, end, step, dtype=dtype),
                             persistent=False)

    def forward(self) -> torch.Tensor:
        return self.values


def position_ids(x: torch.Tensor, offset: int, past: Optional[torch.Tensor],
                 mask: Optional[torch.Tensor]) -> torch.Tensor:
    """positions: i64 [N, T] position ids of x [N, T, ...]: offset + past + t, or from an
    attention mask [N, Tm] (1 token, 0 padding) cumsum(mask) - 1, 1 at padding, its last T
    columns, plus offset."""
    n, t = x.shape[0], x.shape[1]
    if mask is not None:
        m = mask.long()
        pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)
        return pos[:, pos.shape[1] - t:] + offset
    pos = torch.arange(offset, offset + t, dtype=torch.int64, device=x.device)[None, :]
    if past is not None:
        pos = pos + past.long().reshape(-1, 1)
    return pos.expand(n, t)


class RelativeBias(nn.Module):
    """relative_bias: T5's relative position bias [1, heads, Tq, Tk] for queries [N, Tq, ...]
    (at positions Tk - Tq + i) and keys [N, Tk, ...]: weight[bucket(key - query)], weight
    [buckets, heads]; `table` is the bucket of each distance in [-max_distance, max_distance]."""

    def __init__(self, buckets: int, heads: int, table: List[int]):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(buckets, heads))
        self.register_buffer("table", torch.tensor(table, dtype=torch.int64), persistent=False)
        self.max_distance = (len(table) - 1) // 2

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        tq, tk = q.shape[1], k.shape[1]
        query = torch.arange(tk - tq, tk, device=self.table.device)
        key = torch.arange(tk, device=self.table.device)
        r = (key[None, :] - query[:, None]).clamp(-self.max_distance, self.max_distance)
        values = F.embedding(self.table[r + self.max_distance], self.weight)    # [Tq, Tk, heads]
        return values.permute(2, 0, 1).unsqueeze(0)


class WindowBias(nn.Module):
    """window_bias: Swin's relative position bias [heads, h*w, h*w] of an h x w window, from
    relative_position_bias_table [(2h-1)*(2w-1), heads] at HF SwinSelfAttention's index (a
    constant buffer, not state)."""

    def __init__(self, heads: int, h: int, w: int):
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.empty((2 * h - 1) * (2 * w - 1), heads))
        ys = torch.arange(h * w) // w
        xs = torch.arange(h * w) % w
        index = (ys[:, None] - ys[None, :] + h - 1) * (2 * w - 1) + xs[:, None] - xs[None, :] + w - 1
        self.register_buffer("index", index, persistent=False)

    def forward(self) -> torch.Tensor:
        return self.relative_position_bias_table[self.index].permute(2, 0, 1)


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """[N, H, W, C] -> [N*(H/ws)*(W/ws), ws*ws, C]: ws x ws windows, row-major."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def window_merge(x: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """window_partition's inverse: [N*(h/ws)*(w/ws), ws*ws, C] -> [N, h, w, C]."""
    x = x.reshape(-1, h // ws, w // ws, ws, ws, x.shape[-1]).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, x.shape[-1])
