"""Attention and the pieces of Transformers: multi-head attention, a
class token, token selection, RMSNorm. Sequences are [N, T, D]."""
from __future__ import annotations

import math
from typing import ClassVar, Literal, Optional

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, known, need_axes, need_float, need_rank, torch_uniform


def alibi_slopes(heads: int) -> list[float]:
    """ALiBi's per-head slopes (Press et al.; BLOOM's build_alibi_tensor): for a power of two
    n, 2^(-8/n) raised to 1..n; otherwise those of the power of two below, then every other
    slope of the next power of two."""
    p = 2 ** int(math.floor(math.log2(heads)))
    base = 2.0 ** (-8.0 / p)
    slopes = [base ** i for i in range(1, p + 1)]
    if p < heads:
        extra = 2.0 ** (-4.0 / p)
        slopes += [extra ** i for i in range(1, 2 * (heads - p), 2)]
    return slopes


def _nonnegative(d: Dim) -> bool:
    """d >= 0 for every positive value of its symbols: its coefficients are all >= 0 (the
    monomials, products of sizes and floor divisions of sizes, are)."""
    return all(c >= 0 for c in d.terms.values())


def _broadcast_to(t, target: tuple, what: str, index: int, op: str = "attention"):
    """A mask or bias must broadcast (numpy rules, as torch's attn_mask) to `target`, the
    scores' [N, heads, Tq, Tk] (sdpa: [..., Tq, Tk])."""
    want = f"{fmt_shape(target)} or a shape broadcasting to it (each axis 1 or equal, " \
           f"aligned from the right: [Tq, Tk], [N, 1, Tq, Tk], ...)"
    ok = t.rank <= len(target) and all(
        d == 1 or d == g for d, g in zip(reversed(t.shape), reversed(target)))
    if not ok:
        per_key = op == "attention" and t.shape == (target[0], target[3])
        raise ShapeError("E302", f"{op}: {what} {fmt_shape(t.shape)} does not broadcast to the "
                         f"scores {fmt_shape(target)}", expected=want, got=str(t), culprits=(index,),
                         help="a mask per key [N, Tk] goes as attention_mask= (1 = attend, Hugging "
                              "Face's) or key_padding_mask= (true = pad, torch's)" if per_key else None)


class Attention(Op):
    """attention(heads): multi-head scaled dot-product attention. Inputs: x (self-attention),
    (query, memory) or (query, key, value); each [N, T, *]. Output [N, Tq, E], E = the query
    width; heads must divide E; kv_heads (grouped-query) must divide heads.

    Projections: projections=packed (default; torch's nn.MultiheadAttention names):
    in_proj_weight [3E, E] when key and value are E wide and kv_heads == heads, else
    q_proj_weight [E, E], k_proj_weight [Ekv, kdim], v_proj_weight [Ekv, vdim] (Ekv = kv_heads *
    E / heads; kdim, vdim the key's and value's widths); in_proj_bias [E + 2 Ekv]; out_proj.weight
    [E, E], out_proj.bias [E]. projections=separate (Hugging Face's layout): q_proj.weight [E, E],
    k_proj.weight [Ekv, kdim], v_proj.weight [Ekv, vdim], out_proj.weight [E, E], each with a
    `.bias`. bias=true|false sets every projection's bias; q_bias, k_bias, v_bias, out_bias
    override it one by one (packed: q, k and v share in_proj_bias, so their flags must agree).

    Scores: softmax(q k^T * scale + additive terms) v, scale = 1/sqrt(head size) unless given.
    Masks (true = attend), all combined: causal=true (query i of Tq sees keys j <= i + Tk - Tq:
    the queries are the last Tq positions of the keys' sequence, as a prefill after a cache;
    Tk >= Tq must be provable), window=W with causal (also j > i + Tk - Tq - W: W keys, the
    query's own included; Mistral's sliding window), key_padding_mask= a bool [N, Tk] tensor
    (true = pad, that key ignored, as torch's), attention_mask= an integer or bool [N, Tk]
    tensor (nonzero = attend, Hugging Face's), mask= a bool tensor broadcasting to [N, heads,
    Tq, Tk] (true = attend). A masked score is the dtype's lowest finite number, not -inf (as
    Hugging Face's masks): a query with no key allowed averages all keys instead of giving NaN.
    Additive terms: attn_bias= a float tensor broadcasting to [N, heads, Tq, Tk] (T5's relative
    position bias, Swin's window bias); alibi=true adds -slope_h * |j - (i + Tk - Tq)| (ALiBi,
    BLOOM's slopes).

    Rotary position embedding: rotary=true rotates q and k by their positions (keys 0..Tk-1,
    queries Tk-Tq..Tk-1), frequencies rope_base^(-2i/rotary_dim) over the first rotary_dim
    features of each head (default all: GPT-NeoX and Phi rotate a fraction); rotary_layout=half
    (rotate-half: LLaMA, GPT-NeoX) or interleaved (pairs 2i, 2i+1: GPT-J).

    A cache: past=(key, value), each [N, kv_heads, P, head size] (the keys already rotated),
    on self-attention: the new keys and values follow them (positions P.., so Tk = P + T) and
    the outputs are (y, present key, present value), each present [N, kv_heads, P + T, head
    size] (what the next step takes as its past)."""
    kind: ClassVar[str] = "attention"
    positional: ClassVar[tuple[str, ...]] = ("heads",)
    arity: ClassVar[tuple[int, int | None]] = (1, 9)
    tensor_args: ClassVar[tuple[str, ...]] = ("key_padding_mask", "attention_mask", "mask",
                                              "attn_bias", "past")
    precise: ClassVar[bool] = True
    heads: int
    kv_heads: Optional[int] = None
    projections: Literal["packed", "separate"] = "packed"
    bias: bool = True
    q_bias: Optional[bool] = None
    k_bias: Optional[bool] = None
    v_bias: Optional[bool] = None
    out_bias: Optional[bool] = None
    causal: bool = False
    window: Optional[int] = None
    alibi: bool = False
    scale: Optional[float] = None
    rotary: bool = False
    rotary_dim: Optional[int] = None
    rotary_layout: Literal["half", "interleaved"] = "half"
    rope_base: float = 10000.0
    dropout: float = 0.0
    key_padding_mask: int = 0
    attention_mask: int = 0
    mask: int = 0
    attn_bias: int = 0
    past: int = 0

    def n_tensors(self, xs) -> int:
        """How many of the inputs are the query, key and value (the rest: the tensor args)."""
        return len(xs) - self.key_padding_mask - self.attention_mask - self.mask - self.attn_bias \
            - self.past

    def parts(self, *xs):
        """(query, key, value, key padding mask, mask, bias) types from the inputs (None where
        not given)."""
        n = self.n_tensors(xs)
        q = xs[0]
        k = xs[1] if n >= 2 else q
        v = xs[2] if n >= 3 else k
        pad, keep, mask, bias = self.extras(xs[n:])
        return q, k, v, pad, mask, bias

    def extras(self, given) -> tuple:
        """(key padding mask, attention mask, mask, bias) from the inputs after q, k and v (None
        where not given): types here, and the backends' values (tensors, names, source text)."""
        rest = list(given)
        return tuple(rest.pop(0) if count else None for count in
                     (self.key_padding_mask, self.attention_mask, self.mask, self.attn_bias))

    def cached(self, *xs):
        """The past keys and values given by `past=(key, value)`, or None."""
        return tuple(xs[len(xs) - self.past:]) if self.past else None

    def key_length(self, *xs) -> Dim:
        """Tk: the keys' length, the past's included."""
        k = self.parts(*xs)[1]
        past = self.cached(*xs)
        return k.shape[1] + past[0].shape[2] if past else k.shape[1]

    def biases(self) -> tuple[bool, bool, bool, bool]:
        """Whether the q, k, v and output projections have a bias."""
        return tuple(self.bias if b is None else b
                     for b in (self.q_bias, self.k_bias, self.v_bias, self.out_bias))

    def dims(self, *xs) -> tuple[int, int, int, int, int]:
        """(E, head_dim, kv width, kdim, vdim)."""
        q, k, v = self.parts(*xs)[:3]
        e = q.shape[2].value
        kvh = self.kv_heads or self.heads
        return e, e // self.heads, kvh * (e // self.heads), k.shape[2].value, v.shape[2].value

    def packed(self, *xs) -> bool:
        """One in_proj_weight [3E, E] (projections=packed with q, k and v all E wide)."""
        e, _, ekv, kd, vd = self.dims(*xs)
        return self.projections == "packed" and ekv == e and kd == e and vd == e

    def rotated(self, *xs) -> int:
        """How many features of each head rotary embedding rotates (0: none)."""
        return (self.rotary_dim or self.dims(*xs)[1]) if self.rotary else 0

    def factor(self, *xs) -> float:
        return self.scale if self.scale is not None else 1 / math.sqrt(self.dims(*xs)[1])

    def shape(self, *xs):
        n = self.n_tensors(xs)
        if n > 3:
            raise ShapeError("E208", "attention takes x, (query, memory) or (query, key, value)")
        q, k, v, pad, mask, bias = self.parts(*xs)
        past = self.cached(*xs)
        for i, t in enumerate((q, k, v)[:n]):
            need_rank(t, 3, "attention", "[N, T, features]", index=i)
            need_float(t, "attention", index=i)
            known(t.shape[2], "the width of attention's inputs", index=i)
        self._check_options()
        e = q.shape[2].value
        kvh = self.kv_heads or self.heads
        if self.heads < 1 or e % self.heads:
            raise ShapeError("E305", f"attention: {self.heads} heads do not divide the width {e}",
                             expected=f"a width divisible by {self.heads}", got=str(e), culprits=(0,),
                             help=f"choose heads among the divisors of {e}")
        if kvh < 1 or self.heads % kvh:
            raise ShapeError("E305", f"attention: kv_heads={kvh} must divide heads={self.heads}")
        d = e // self.heads
        if self.rotary:
            r = self.rotary_dim or d
            if r % 2 or not 2 <= r <= d:
                raise ShapeError("E305", f"attention: rotary embedding needs an even number of "
                                 f"features in 2..{d} (the head size), got {r}",
                                 expected=f"an even rotary_dim <= {d}", got=str(r))
        if k.shape[:2] != v.shape[:2] or k.shape[0] != q.shape[0]:
            raise ShapeError("E302", f"attention: key {fmt_shape(k.shape)} and value "
                             f"{fmt_shape(v.shape)} must share batch and length with the query's batch",
                             expected=f"[{q.shape[0]}, Tk, ...] for both", got=f"{k} and {v}")
        tk = self.key_length(*xs)
        if past is not None:
            self._check_past(q, n, past, kvh, d, len(xs) - 2)
        for flag, what in ((self.causal, "a causal mask"), (self.rotary, "rotary embedding"),
                           (self.alibi, "ALiBi")):
            if flag and not _nonnegative(tk - q.shape[1]):
                raise ShapeError("E302", f"attention: {what} needs queries and keys of one length "
                                 f"or more keys than queries (the queries are the last positions)",
                                 expected=f"Tk >= Tq = {q.shape[1]}", got=f"Tk = {tk}",
                                 culprits=(1,) if n > 1 else (0,))
        index = n
        if pad is not None:
            if pad.dtype != "bool" or pad.shape != (k.shape[0], tk):
                raise ShapeError("E306" if pad.dtype != "bool" else "E302",
                                 f"attention: key_padding_mask must be bool[{k.shape[0]}, {tk}], "
                                 f"got {pad}", expected=f"bool[{k.shape[0]}, {tk}]", got=str(pad),
                                 culprits=(index,))
            index += 1
        keep = self.extras(xs[n:])[1]
        if keep is not None:
            if keep.dtype not in ("bool", "i64", "i32", "i8", "u8") or keep.shape != (k.shape[0], tk):
                raise ShapeError("E306" if keep.shape == (k.shape[0], tk) else "E302",
                                 f"attention: attention_mask must be an integer or bool [{k.shape[0]}, "
                                 f"{tk}] (1 = attend, Hugging Face's), got {keep}",
                                 expected=f"i64[{k.shape[0]}, {tk}]", got=str(keep), culprits=(index,))
            index += 1
        scores = (q.shape[0], Dim.of(self.heads), q.shape[1], tk)
        if mask is not None:
            if mask.dtype != "bool":
                raise ShapeError("E306", f"attention: mask= is bool (true = attend), got {mask}",
                                 expected="a bool tensor", got=str(mask), culprits=(index,),
                                 help="compare to make one: `keep = m > 0`")
            _broadcast_to(mask, scores, "mask=", index)
            index += 1
        if bias is not None:
            need_float(bias, "attention's attn_bias=", index=index)
            _broadcast_to(bias, scores, "attn_bias=", index)
        if past is None:
            return q
        present = q.with_shape((q.shape[0], kvh, tk, d))
        return q, present, present

    def _check_past(self, q, n: int, past, kvh: int, d: int, index: int) -> None:
        if n != 1:
            raise ShapeError("E208", "attention: past=(key, value) caches self-attention, which "
                             f"takes one input; this call has {n}", expected="x -> attention(..., "
                             "past=(key, value))", got=f"{n} inputs")
        if len(past) != 2:
            raise ShapeError("E208", f"attention: past= takes (key, value), got {len(past)} tensor(s)",
                             expected="2", got=str(len(past)), culprits=(index,))
        want = (q.shape[0], Dim.of(kvh), past[0].shape[2] if past[0].rank == 4 else "P", Dim.of(d))
        for i, t in enumerate(past):
            if t.dtype != q.dtype or t.shape != want or past[1].shape != past[0].shape:
                raise ShapeError("E302", f"attention: the past {'key' if i == 0 else 'value'} is {t}; "
                                 f"this layer caches {q.dtype}[N, kv_heads, P, head size]",
                                 expected=f"{q.dtype}{fmt_shape(want)} for both", got=str(t),
                                 culprits=(index + i,))

    def _check_options(self) -> None:
        if not 0 <= self.dropout < 1:
            raise ShapeError("E205", f"attention: dropout must be in [0, 1), got {self.dropout}",
                             expected="0 <= dropout < 1", got=str(self.dropout))
        if self.window is not None and self.window < 1:
            raise ShapeError("E205", f"attention: window must be at least 1 key, got {self.window}",
                             expected="window >= 1", got=str(self.window))
        if self.window is not None and not self.causal:
            raise ShapeError("E205", "attention: window= is a sliding window over earlier keys and "
                             "needs causal=true", expected="causal=true", got="causal=false")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ShapeError("E205", f"attention: scale must be a positive number, got {self.scale}",
                             expected="scale > 0", got=str(self.scale))
        if not self.rotary and (self.rotary_dim is not None or self.rotary_layout != "half"):
            raise ShapeError("E205", "attention: rotary_dim and rotary_layout need rotary=true",
                             expected="rotary=true", got="rotary=false")
        qb, kb, vb, _ = self.biases()
        if self.projections == "packed" and len({qb, kb, vb}) > 1:
            raise ShapeError("E205", f"attention: q_bias={qb}, k_bias={kb}, v_bias={vb} differ, but "
                             f"packed projections share one in_proj_bias",
                             expected="one flag for q, k and v", got=f"{qb}, {kb}, {vb}",
                             help="write projections=separate (q_proj, k_proj, v_proj, out_proj, "
                                  "each with its own bias)")

    def params(self, *xs):
        e, _, ekv, kd, vd = self.dims(*xs)
        qb, kb, vb, ob = self.biases()
        p: dict = {}
        if self.projections == "separate":
            for c, (rows, cols), has in (("q", (e, e), qb), ("k", (ekv, kd), kb), ("v", (ekv, vd), vb)):
                p[f"{c}_proj.weight"] = (rows, cols)
                if has:
                    p[f"{c}_proj.bias"] = (rows,)
        else:
            p.update({"in_proj_weight": (3 * e, e)} if self.packed(*xs) else {
                "q_proj_weight": (e, e), "k_proj_weight": (ekv, kd), "v_proj_weight": (ekv, vd)})
            if qb:
                p["in_proj_bias"] = (e + 2 * ekv,)
        p["out_proj.weight"] = (e, e)
        if ob:
            p["out_proj.bias"] = (e,)
        return p

    def init(self, name, shape, xs, rng):
        """nn.MultiheadAttention's for packed projections (xavier_uniform on the projection
        matrices, zero biases); nn.Linear's for separate ones and the output projection."""
        import numpy as np
        if self.projections == "separate":
            fan_in = self.params(*xs)[name.replace("bias", "weight")][1]
            return torch_uniform(shape, fan_in, rng)
        if name.endswith("bias"):
            return np.zeros(shape, np.float32)          # torch zeroes both biases
        if name == "out_proj.weight":
            return torch_uniform(shape, shape[1], rng)
        bound = math.sqrt(6.0 / (shape[0] + shape[1]))   # xavier_uniform on the whole matrix, as torch
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    def macs(self, xs, ys):
        """N * (Tq*E*E + Tk*Ekv*(kdim + vdim) + Tq*E*E) for the projections (q, k and v, out;
        Tk the new keys) plus N * Tq * Tk * 2E for the scores and their weighted sum (Tk the
        past's keys included)."""
        q, k = self.parts(*xs)[:2]
        e, _, ekv, kd, vd = self.dims(*xs)
        n, tq, tk = q.shape[0], q.shape[1], k.shape[1]
        proj = n * (tq * e * e + tk * ekv * (kd + vd) + tq * e * e)
        return proj + n * tq * self.key_length(*xs) * (2 * e)


class SDPA(Op):
    """sdpa(q, k, v): scaled dot-product attention without projections, softmax(q k^T * scale +
    additive terms) v over the last two axes: q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv] ->
    [..., Tq, dv] (leading axes equal); scale defaults to 1/sqrt(d). causal=true: query i sees
    keys j <= i + Tk - Tq (the queries are the last Tq positions; Tk >= Tq must be provable);
    mask= a bool tensor (true = attend) and attn_bias= a float tensor, each broadcasting to the
    scores [..., Tq, Tk] (torch's attn_mask rules). A masked score is the dtype's lowest finite
    number, as attention's."""
    kind: ClassVar[str] = "sdpa"
    arity: ClassVar[tuple[int, int | None]] = (3, 5)
    tensor_args: ClassVar[tuple[str, ...]] = ("mask", "attn_bias")
    precise: ClassVar[bool] = True
    causal: bool = False
    scale: Optional[float] = None
    mask: int = 0
    attn_bias: int = 0

    def extras(self, given) -> tuple:
        """(mask, bias) from the inputs after q, k and v (None where not given)."""
        rest = list(given)
        return tuple(rest.pop(0) if count else None for count in (self.mask, self.attn_bias))

    def shape(self, q, k, v, *extra):
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
        if self.causal and not _nonnegative(k.shape[-2] - q.shape[-2]):
            raise ShapeError("E302", "sdpa: a causal mask needs queries and keys of one length or "
                             "more keys than queries (the queries are the last positions)",
                             expected=f"Tk >= Tq = {q.shape[-2]}", got=f"Tk = {k.shape[-2]}",
                             culprits=(1,))
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ShapeError("E205", f"sdpa: scale must be a positive number, got {self.scale}",
                             expected="scale > 0", got=str(self.scale))
        known(q.shape[-1], "sdpa's head width")
        scores = q.shape[:-1] + (k.shape[-2],)
        mask, bias = self.extras(extra)
        if mask is not None:
            if mask.dtype != "bool":
                raise ShapeError("E306", f"sdpa: mask= is bool (true = attend), got {mask}",
                                 expected="a bool tensor", got=str(mask), culprits=(3,))
            _broadcast_to(mask, scores, "mask=", 3, "sdpa")
        if bias is not None:
            need_float(bias, "sdpa's attn_bias=", index=3 + self.mask)
            _broadcast_to(bias, scores, "attn_bias=", 3 + self.mask, "sdpa")
        return v.with_shape(q.shape[:-1] + (v.shape[-1],))

    def macs(self, xs, ys):
        """numel(leading axes) * Tq * Tk * (d + dv): the scores q k^T, then their weighted sum
        of v (as matmul counts each; the softmax and the scaling are not MACs)."""
        q, k, v = xs[:3]
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
