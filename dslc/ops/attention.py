"""Attention and the pieces of Transformers: multi-head attention, a
class token, token selection, RMSNorm. Sequences are [N, T, D]."""
from __future__ import annotations

import math
from typing import ClassVar, Optional

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, known, need_axes, need_float, need_rank, torch_uniform


class Attention(Op):
    """attention(heads): multi-head scaled dot-product attention, torch's nn.MultiheadAttention
    layout. Inputs: x (self-attention), (query, memory) or (query, key, value); each [N, T, *].
    Output [N, Tq, E], E = the query width. heads must divide E; kv_heads (grouped-query) must
    divide heads. Optional: causal=true, key_padding_mask= a bool [N, Tk] tensor (true = pad,
    that key ignored, as torch's), rotary=true (rotary position embedding on q and k,
    rotate-half form, frequencies rope_base^(-2i/head_dim)). Parameters: in_proj_weight [3E, E]
    when key and value are E wide and kv_heads == heads, else q_proj_weight [E, E],
    k_proj_weight [Ekv, kdim], v_proj_weight [Ekv, vdim] (Ekv = kv_heads * E / heads; kdim,
    vdim the key's and value's widths); in_proj_bias [E + 2 Ekv] (bias=true);
    out_proj.weight [E, E], out_proj.bias [E]."""
    kind: ClassVar[str] = "attention"
    positional: ClassVar[tuple[str, ...]] = ("heads",)
    arity: ClassVar[tuple[int, int | None]] = (1, 4)
    tensor_args: ClassVar[tuple[str, ...]] = ("key_padding_mask",)
    precise: ClassVar[bool] = True
    heads: int
    kv_heads: Optional[int] = None
    bias: bool = True
    causal: bool = False
    rotary: bool = False
    rope_base: float = 10000.0
    dropout: float = 0.0
    key_padding_mask: int = 0

    def parts(self, *xs):
        """(query, key, value, mask) types from the inputs."""
        n = len(xs) - self.key_padding_mask
        q = xs[0]
        k = xs[1] if n >= 2 else q
        v = xs[2] if n >= 3 else k
        return q, k, v, (xs[n] if self.key_padding_mask else None)

    def dims(self, *xs) -> tuple[int, int, int, int, int]:
        """(E, head_dim, kv width, kdim, vdim)."""
        q, k, v, _ = self.parts(*xs)
        e = q.shape[2].value
        kvh = self.kv_heads or self.heads
        return e, e // self.heads, kvh * (e // self.heads), k.shape[2].value, v.shape[2].value

    def packed(self, *xs) -> bool:
        e, _, ekv, kd, vd = self.dims(*xs)
        return ekv == e and kd == e and vd == e

    def shape(self, *xs):
        if len(xs) - self.key_padding_mask > 3:
            raise ShapeError("E208", "attention takes x, (query, memory) or (query, key, value)")
        q, k, v, mask = self.parts(*xs)
        for i, t in enumerate((q, k, v)[:len(xs) - self.key_padding_mask]):
            need_rank(t, 3, "attention", "[N, T, features]", index=i)
            need_float(t, "attention", index=i)
            known(t.shape[2], "the width of attention's inputs", index=i)
        e = q.shape[2].value
        kvh = self.kv_heads or self.heads
        if self.heads < 1 or e % self.heads:
            raise ShapeError("E305", f"attention: {self.heads} heads do not divide the width {e}",
                             expected=f"a width divisible by {self.heads}", got=str(e), culprits=(0,),
                             help=f"choose heads among the divisors of {e}")
        if kvh < 1 or self.heads % kvh:
            raise ShapeError("E305", f"attention: kv_heads={kvh} must divide heads={self.heads}")
        if not 0 <= self.dropout < 1:
            raise ShapeError("E205", f"attention: dropout must be in [0, 1), got {self.dropout}",
                             expected="0 <= dropout < 1", got=str(self.dropout))
        if self.rotary and (e // self.heads) % 2:
            raise ShapeError("E305", f"attention: rotary embedding needs an even head size, got {e // self.heads}")
        if k.shape[:2] != v.shape[:2] or k.shape[0] != q.shape[0]:
            raise ShapeError("E302", f"attention: key {fmt_shape(k.shape)} and value "
                             f"{fmt_shape(v.shape)} must share batch and length with the query's batch",
                             expected=f"[{q.shape[0]}, Tk, ...] for both", got=f"{k} and {v}")
        for flag, what in ((self.causal, "a causal mask"), (self.rotary, "rotary embedding")):
            if flag and q.shape[1] != k.shape[1]:       # positions 0..T-1 on both sides
                raise ShapeError("E302", f"attention: {what} needs queries and keys of one length",
                                 expected=str(q.shape[1]), got=str(k.shape[1]))
        if mask is not None and (mask.dtype != "bool" or mask.shape != (k.shape[0], k.shape[1])):
            raise ShapeError("E306" if mask.dtype != "bool" else "E302",
                             f"attention: key_padding_mask must be bool[{k.shape[0]}, {k.shape[1]}], "
                             f"got {mask}", expected=f"bool[{k.shape[0]}, {k.shape[1]}]", got=str(mask),
                             culprits=(len(xs) - 1,))
        return q

    def params(self, *xs):
        e, _, ekv, kd, vd = self.dims(*xs)
        p = {"in_proj_weight": (3 * e, e)} if self.packed(*xs) else {
            "q_proj_weight": (e, e), "k_proj_weight": (ekv, kd), "v_proj_weight": (ekv, vd)}
        if self.bias:
            p["in_proj_bias"] = (e + 2 * ekv,)
        p["out_proj.weight"] = (e, e)
        if self.bias:
            p["out_proj.bias"] = (e,)
        return p

    def init(self, name, shape, xs, rng):
        import numpy as np
        if name.endswith("bias"):
            return np.zeros(shape, np.float32)          # torch zeroes both biases
        if name == "out_proj.weight":
            return torch_uniform(shape, shape[1], rng)
        bound = math.sqrt(6.0 / (shape[0] + shape[1]))   # xavier_uniform on the whole matrix, as torch
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    def macs(self, xs, ys):
        """N * (Tq*E*E + Tk*Ekv*(kdim + vdim) + Tq*E*E) for the projections (q, k and v, out)
        plus N * Tq * Tk * 2E for the scores and their weighted sum."""
        q, k, v, _ = self.parts(*xs)
        e, _, ekv, kd, vd = self.dims(*xs)
        n, tq, tk = q.shape[0], q.shape[1], k.shape[1]
        proj = n * (tq * e * e + tk * ekv * (kd + vd) + tq * e * e)
        return proj + n * tq * tk * (2 * e)


class SDPA(Op):
    """sdpa(q, k, v): scaled dot-product attention without projections, softmax(q k^T / sqrt(d))
    v over the last two axes: q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv] -> [..., Tq, dv]
    (leading axes equal); causal=true masks later keys; scale defaults to 1/sqrt(d)."""
    kind: ClassVar[str] = "sdpa"
    arity: ClassVar[tuple[int, int | None]] = (3, 3)
    precise: ClassVar[bool] = True
    causal: bool = False
    scale: Optional[float] = None

    def shape(self, q, k, v):
        for i, t in enumerate((q, k, v)):
            need_rank(t, range(2, 9), "sdpa", "[..., T, d]", index=i)
            need_float(t, "sdpa", index=i)
        if not (q.rank == k.rank == v.rank) or q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
            raise ShapeError("E302", f"sdpa: q {fmt_shape(q.shape)}, k {fmt_shape(k.shape)} and v "
                             f"{fmt_shape(v.shape)} must share their leading axes",
                             expected=fmt_shape(q.shape[:-2] + ("T", "d")), got=f"{k} and {v}")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise ShapeError("E302", f"sdpa: q and k need one width and k and v one length, got "
                             f"{fmt_shape(q.shape)}, {fmt_shape(k.shape)}, {fmt_shape(v.shape)}",
                             expected="q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]",
                             got=f"{q}, {k}, {v}")
        if self.causal and q.shape[-2] != k.shape[-2]:
            raise ShapeError("E302", "sdpa: a causal mask needs queries and keys of one length")
        known(q.shape[-1], "sdpa's head width")
        return v.with_shape(q.shape[:-1] + (v.shape[-1],))

    def macs(self, xs, ys):
        """numel(leading axes) * Tq * Tk * (d + dv): the scores q k^T, then their weighted sum
        of v (as matmul counts each; the softmax and the scaling are not MACs)."""
        q, k, v = xs
        lead = Dim.of(1)
        for d in q.shape[:-2]:
            lead = lead * d
        return lead * q.shape[-2] * k.shape[-2] * (q.shape[-1] + v.shape[-1])

    def factor(self, q) -> float:
        return self.scale if self.scale is not None else 1 / math.sqrt(q.shape[-1].value)


class ClassToken(Op):
    """class_token: [N, T, D] -> [N, T + 1, D], a learned token prepended (ViT); weight [1, 1, D]."""
    kind: ClassVar[str] = "class_token"

    def shape(self, x):
        need_rank(x, 3, self.kind, "[N, T, features]")
        need_float(x, self.kind)        # its learned token joins the input's features
        known(x.shape[2], "the width of class_token's input")
        return x.with_shape((x.shape[0], x.shape[1] + 1, x.shape[2]))

    def params(self, x):
        return {"weight": (1, 1, x.shape[2].value)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.zeros(shape, np.float32)                        # torchvision's init


class Select(Op):
    """select(index, axis=1): drops `axis`, keeping position `index`: [N, T, D] -> [N, D]
    (BERT's pooler and ViT's head read token 0)."""
    kind: ClassVar[str] = "select"
    positional: ClassVar[tuple[str, ...]] = ("index", "axis")
    index: int = 0
    axis: int = 1

    def shape(self, x):
        from .base import axis_index
        ax = axis_index(self.axis, x.rank, "select")
        size = x.shape[ax]
        if size.is_const() and not -size.value <= self.index < size.value:
            raise ShapeError("E303", f"select: index {self.index} is outside axis {ax} of size {size}")
        return x.with_shape(x.shape[:ax] + x.shape[ax + 1:])


class RMSNorm(Op):
    """rmsnorm(eps=1e-6): x / sqrt(mean(x^2 over the last dim) + eps) * weight; weight [D]."""
    kind: ClassVar[str] = "rmsnorm"
    precise: ClassVar[bool] = True
    eps: float = 1e-6

    def shape(self, x):
        need_float(x, self.kind)
        need_axes(x, 1, self.kind)
        known(x.shape[-1], "the last dim of rmsnorm's input")
        return x

    def params(self, x):
        return {"weight": (x.shape[-1].value,)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.ones(shape, np.float32)


OPS = (Attention, SDPA, ClassToken, Select, RMSNorm)
