"""ONNX lowering of multi-head attention: the standard MatMul/Softmax subgraph, or, when the
builder fuses (`--fuse`), onnxruntime's contrib `Attention` (one node doing the packed
projection, the heads, the causal and padding masks and the softmax) for the self-attention
it covers."""
from __future__ import annotations

import math

import numpy as np
from ...ops.attention import Attention, ClassToken, RMSNorm, SDPA, Select
from .table import fused, lowering


def _split_heads(b, name: str, x: str, heads: int, d: int) -> str:
    """[N, T, heads*d] -> [N, heads, T, d]."""
    r = b.node("Reshape", [x, b.ints([0, 0, heads, d], "heads_shape")], name=f"{name}.split")[0]
    return b.node("Transpose", [r], name=f"{name}.heads", perm=[0, 2, 1, 3])[0]


def _project(b, name: str, x: str, w: str, bias: str | None) -> str:
    wt = b.node("Transpose", [w], name=f"{name}.wt", perm=[1, 0])[0]
    y = b.node("MatMul", [x, wt], name=f"{name}.matmul")[0]
    return b.node("Add", [y, bias], name=f"{name}.bias")[0] if bias else y


def _rope(b, node, q: str, k: str, d: int, base: float, dtype: str = "f32"):
    """Rotary embedding on [N, h, T, d] tensors of `dtype`: x*cos + rotate_half(x)*sin,
    positions 0..T-1. The tables are computed in f64 for an f64 query, else in f32 and cast
    to its dtype (as the torch module does)."""
    from .builder import np_dtype, onnx_dtype
    n = node.name
    table = "f64" if dtype == "f64" else "f32"
    t = b.node("Shape", [q], name=f"{n}.t", start=2, end=3)[0]
    t = b.node("Cast", [b.node("Squeeze", [t, b.ints([0])], name=f"{n}.t0")[0]], name=f"{n}.tf",
               to=onnx_dtype(table))[0]
    pos = b.node("Range", [b.scalar(0, table, "zero_f"), t, b.scalar(1, table, "one_f")],
                 name=f"{n}.positions")[0]
    inv = (1.0 / base ** (np.arange(0, d, 2, dtype=np.float64) / d)).astype(np_dtype(table))
    freqs = b.node("Mul", [b.node("Unsqueeze", [pos, b.ints([1])], name=f"{n}.col")[0],
                           b.const(inv[None, :], f"{n}.inv_freq")], name=f"{n}.freqs")[0]
    emb = b.node("Concat", [freqs, freqs], name=f"{n}.emb", axis=1)[0]
    cos = b.node("Cos", [emb], name=f"{n}.cos")[0]
    sin = b.node("Sin", [emb], name=f"{n}.sin")[0]
    if table != dtype:
        cos = b.node("Cast", [cos], name=f"{n}.cos_cast", to=onnx_dtype(dtype))[0]
        sin = b.node("Cast", [sin], name=f"{n}.sin_cast", to=onnx_dtype(dtype))[0]
    out = []
    for x in (q, k):
        lo, hi = b.node("Split", [x], 2, name=f"{n}.halves", axis=-1, num_outputs=2)
        rot = b.node("Concat", [b.node("Neg", [hi], name=f"{n}.neg")[0], lo], name=f"{n}.rot", axis=-1)[0]
        out.append(b.node("Add", [b.node("Mul", [x, cos], name=f"{n}.xcos")[0],
                                  b.node("Mul", [rot, sin], name=f"{n}.xsin")[0]], name=f"{n}.rope")[0])
    return out


def attend(b, n: str, q: str, k: str, v: str, scale: float, causal: bool, keep: str | None,
           rank: int, out: str | None = None, dtype: str = "f32") -> str:
    """softmax(q k^T * scale, masked) v on [..., T, d] tensors of `dtype`; `keep` is a bool
    mask that broadcasts over the scores (true = attend)."""
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    kt = b.node("Transpose", [k], name=f"{n}.kt", perm=perm)[0]
    scores = b.node("Mul", [b.node("MatMul", [q, kt], name=f"{n}.qk")[0],
                            b.scalar(scale, dtype, f"{n}.scale")],
                    name=f"{n}.scores")[0]
    if causal:
        shape = b.node("Shape", [scores], name=f"{n}.scores_shape", start=rank - 2, end=rank)[0]
        ones = b.node("ConstantOfShape", [shape], name=f"{n}.ones", value=_bool_one())[0]
        tril = b.node("Trilu", [ones], name=f"{n}.tril", upper=0)[0]
        keep = tril if keep is None else b.node("And", [keep, tril], name=f"{n}.allowed")[0]
    if keep is not None:
        neg = b.scalar(-np.inf, dtype, "neg_inf")
        scores = b.node("Where", [keep, scores, neg], name=f"{n}.masked")[0]
    probs = b.node("Softmax", [scores], name=f"{n}.softmax", axis=-1)[0]
    return b.node("MatMul", [probs, v], [out] if out else None, name=f"{n}.context")[0]


def _fusable(op, node) -> bool:
    """Self-attention with the packed projection (which grouped-query heads do not have), no
    rotary embedding, in f32 (onnxruntime's CPU kernel; a half-precision model computes
    attention in f32 anyway, Node.upcast)."""
    xs = node.in_types
    return len(xs) - op.key_padding_mask == 1 and op.packed(*xs) and not op.rotary and \
        xs[0].dtype == "f32"


def _fused(op, b, node, ins, outs) -> str:
    """com.microsoft.Attention: input [N, T, E] @ weights [E, 3E] + bias, `unidirectional`
    for causal, mask_index [N, T] int32 (1 = attend) from the key padding mask; the output
    projection stays a MatMul. Returns the context before that projection."""
    from .builder import CONTRIB, onnx_dtype
    n = node.name
    w = b.node("Transpose", [b.param(node, "in_proj_weight")], name=f"{n}.wt", perm=[1, 0])[0]
    bias = b.param(node, "in_proj_bias") if op.bias else ""
    mask = ""
    if op.key_padding_mask:
        keep = b.node("Not", [ins[1]], name=f"{n}.keep")[0]
        mask = b.node("Cast", [keep], name=f"{n}.mask_index", to=onnx_dtype("i32"))[0]
    return b.node("Attention", [ins[0], w, bias, mask], name=f"{n}.fused", domain=CONTRIB,
                  num_heads=op.heads, unidirectional=int(op.causal))[0]


def attention(op, b, node, ins, outs) -> None:
    n, xs = node.name, node.in_types
    dtype = xs[0].dtype
    e, d, ekv, _, _ = op.dims(*xs)
    kvh = op.kv_heads or op.heads
    n_t = len(xs) - op.key_padding_mask
    q_in = ins[0]
    k_in = ins[1] if n_t >= 2 else q_in
    v_in = ins[2] if n_t >= 3 else k_in
    if op.packed(*xs):
        w = b.param(node, "in_proj_weight")
        wq, wk, wv = b.node("Split", [w, b.ints([e, ekv, ekv])], 3, name=f"{n}.in_proj", axis=0)
    else:
        wq, wk, wv = (b.param(node, f"{c}_proj_weight") for c in "qkv")
    bq = bk = bv = None
    if op.bias:
        bq, bk, bv = b.node("Split", [b.param(node, "in_proj_bias"), b.ints([e, ekv, ekv])], 3,
                            name=f"{n}.in_bias", axis=0)
    q = _split_heads(b, f"{n}.q", _project(b, f"{n}.q", q_in, wq, bq), op.heads, d)
    k = _split_heads(b, f"{n}.k", _project(b, f"{n}.k", k_in, wk, bk), kvh, d)
    v = _split_heads(b, f"{n}.v", _project(b, f"{n}.v", v_in, wv, bv), kvh, d)
    if op.rotary:
        q, k = _rope(b, node, q, k, d, op.rope_base, dtype)
    if kvh != op.heads:      # grouped-query: each kv head serves heads/kvh query heads
        rep = op.heads // kvh
        k, v = (_repeat_heads(b, n, t, kvh, rep, d) for t in (k, v))
    keep = None
    if op.key_padding_mask:
        pad = b.node("Unsqueeze", [ins[n_t], b.ints([1, 2])], name=f"{n}.pad")[0]
        keep = b.node("Not", [pad], name=f"{n}.keep")[0]
    ctx = attend(b, n, q, k, v, 1 / math.sqrt(d), op.causal, keep, rank=4, dtype=dtype)
    ctx = b.node("Transpose", [ctx], name=f"{n}.merge", perm=[0, 2, 1, 3])[0]
    ctx = b.node("Reshape", [ctx, b.ints([0, 0, e], "merge_shape")], name=f"{n}.merged")[0]
    _output(op, b, node, ctx, outs)


def _output(op, b, node, ctx: str, outs) -> None:
    """The output projection of the merged heads [N, T, E]."""
    y = _project(b, f"{node.name}.out", ctx, b.param(node, "out_proj.weight"), None)
    if op.bias:
        b.node("Add", [y, b.param(node, "out_proj.bias")], outs, name=node.name)
    else:
        b.node("Identity", [y], outs, name=node.name)


def _repeat_heads(b, n: str, x: str, kvh: int, rep: int, d: int) -> str:
    """[N, kvh, T, d] -> [N, kvh*rep, T, d], each head repeated rep times in place."""
    u = b.node("Unsqueeze", [x, b.ints([2])], name=f"{n}.rep_axis")[0]
    t = b.node("Shape", [x], name=f"{n}.rep_t", start=2, end=3)[0]
    nb = b.node("Shape", [x], name=f"{n}.rep_n", start=0, end=1)[0]
    shape = b.node("Concat", [nb, b.ints([kvh, rep]), t, b.ints([d])], name=f"{n}.rep_shape", axis=0)[0]
    e = b.node("Expand", [u, shape], name=f"{n}.repeat")[0]
    return b.node("Reshape", [e, b.ints([0, kvh * rep, -1, d], "rep_merge")], name=f"{n}.rep_heads")[0]


def _bool_one():
    from onnx import TensorProto, helper
    return helper.make_tensor("one", TensorProto.BOOL, [1], [True])


# ---- lowerings ----


@lowering.register(Attention)
def _attention(op, b, node, ins, outs):
    attention(op, b, node, ins, outs)


@fused.register(Attention)
def _attention_fused(op, b, node, ins, outs):
    """Self-attention as com.microsoft.Attention where it fits (_fusable), else the standard
    form; b.fused counts both for the report."""
    done, every = b.fused.setdefault("attention", (set(), set()))
    every.add(node.name)      # by name: a node lowered again in f32 counts once
    if not _fusable(op, node):
        attention(op, b, node, ins, outs)
        return
    done.add(node.name)
    _output(op, b, node, _fused(op, b, node, ins, outs), outs)


@lowering.register(SDPA)
def _sdpa(op, b, node, ins, outs):
    attend(b, node.name, *ins, op.factor(node.in_types[0]), op.causal, None,
           node.in_types[0].rank, out=outs[0], dtype=node.in_types[0].dtype)


@lowering.register(ClassToken)
def _class_token(op, b, node, ins, outs):
    n = b.node("Shape", [ins[0]], name=f"{node.name}.batch", start=0, end=1)[0]
    shape = b.node("Concat", [n, b.ints([1, 1])], name=f"{node.name}.shape", axis=0)[0]
    tok = b.node("Expand", [b.param(node, "weight"), shape], name=f"{node.name}.expand")[0]
    b.node("Concat", [tok, ins[0]], outs, name=node.name, axis=1)


@lowering.register(Select)
def _select(op, b, node, ins, outs):
    import numpy as np
    b.node("Gather", [ins[0], b.const(np.asarray(op.index, np.int64), "index")], outs,
           name=node.name, axis=op.axis)


@lowering.register(RMSNorm)
def _rmsnorm(op, b, node, ins, outs):
    n = node.name
    sq = b.node("Mul", [ins[0], ins[0]], name=f"{n}.square")[0]
    ms = b.node("ReduceMean", [sq, b.ints([-1])], name=f"{n}.mean", keepdims=1)[0]
    eps = b.scalar(op.eps, node.in_types[0].dtype, "eps")
    rms = b.node("Sqrt", [b.node("Add", [ms, eps], name=f"{n}.eps")[0]], name=f"{n}.rms")[0]
    normed = b.node("Div", [ins[0], rms], name=f"{n}.normed")[0]
    b.node("Mul", [normed, b.param(node, "weight")], outs, name=n)
