"""ONNX lowering of multi-head attention: the standard MatMul/Softmax subgraph, or, when the
builder fuses (`--fuse`), onnxruntime's contrib `Attention` (one node doing the packed
projection, the heads, the causal and padding masks and the softmax) for the self-attention
it covers."""
from __future__ import annotations


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


def _rope(b, node, q: str, k: str, rot: int, d: int, base: float, interleaved: bool,
          same_length: bool, dtype: str = "f32", past: str | None = None):
    """Rotary embedding on [N, h, T, d] tensors of `dtype`, of the first `rot` features of each
    head: x*cos + rotated(x)*sin, keys at positions 0..Tk-1, queries at the last Tq of them
    (`same_length`: Tq == Tk, no slice); with `past` (cached keys [N, h, P, d], self-attention)
    both at P..P+T-1; rotate-half layout or interleaved pairs. The tables are computed in f64
    for an f64 query, else in f32 and cast to its dtype (as the torch module does)."""
    from .builder import np_dtype, onnx_dtype
    n = node.name
    table = "f64" if dtype == "f64" else "f32"
    def as_float(x, what):
        return b.node("Cast", [b.node("Squeeze", [x, b.ints([0])], name=f"{n}.{what}0")[0]],
                      name=f"{n}.{what}f", to=onnx_dtype(table))[0]
    tk = b.node("Shape", [k], name=f"{n}.tk", start=2, end=3)[0]
    if past is not None:          # the new keys' positions only: P..P+T-1
        tp = b.node("Shape", [past], name=f"{n}.tp", start=2, end=3)[0]
        start, tk = as_float(tp, "tp"), b.node("Add", [tp, tk], name=f"{n}.t_all")[0]
    else:
        start = b.scalar(0, table, "zero_f")
    pos = b.node("Range", [start, as_float(tk, "t"), b.scalar(1, table, "one_f")],
                 name=f"{n}.positions")[0]
    inv = (1.0 / base ** (np.arange(0, rot, 2, dtype=np.float64) / rot)).astype(np_dtype(table))
    freqs = b.node("Mul", [b.node("Unsqueeze", [pos, b.ints([1])], name=f"{n}.col")[0],
                           b.const(inv[None, :], f"{n}.inv_freq")], name=f"{n}.freqs")[0]
    if interleaved:     # each frequency twice in a row
        f2 = b.node("Unsqueeze", [freqs, b.ints([2])], name=f"{n}.freq_pairs")[0]
        emb = b.node("Concat", [f2, f2], name=f"{n}.emb_pairs", axis=2)[0]
        emb = b.node("Reshape", [emb, b.ints([0, -1])], name=f"{n}.emb")[0]
    else:
        emb = b.node("Concat", [freqs, freqs], name=f"{n}.emb", axis=1)[0]
    cos = b.node("Cos", [emb], name=f"{n}.cos")[0]
    sin = b.node("Sin", [emb], name=f"{n}.sin")[0]
    if table != dtype:
        cos = b.node("Cast", [cos], name=f"{n}.cos_cast", to=onnx_dtype(dtype))[0]
        sin = b.node("Cast", [sin], name=f"{n}.sin_cast", to=onnx_dtype(dtype))[0]
    out = []
    rows = (cos, sin) if past is not None else _last_rows(b, n, q, cos, sin, same_length)
    for x, c, s in ((q, *rows), (k, cos, sin)):
        r = x if rot == d else b.node("Slice", [x, b.ints([0]), b.ints([rot]), b.ints([-1])],
                                      name=f"{n}.rotated_part")[0]
        if interleaved:
            pairs = b.node("Reshape", [r, b.ints([0, 0, 0, -1, 2])], name=f"{n}.pairs")[0]
            even, odd = b.node("Split", [pairs], 2, name=f"{n}.pair_halves", axis=-1, num_outputs=2)
            turned = b.node("Concat", [b.node("Neg", [odd], name=f"{n}.neg")[0], even],
                            name=f"{n}.rot_pairs", axis=-1)[0]
            turned = b.node("Reshape", [turned, b.ints([0, 0, 0, rot])], name=f"{n}.rot")[0]
        else:
            lo, hi = b.node("Split", [r], 2, name=f"{n}.halves", axis=-1, num_outputs=2)
            turned = b.node("Concat", [b.node("Neg", [hi], name=f"{n}.neg")[0], lo],
                            name=f"{n}.rot", axis=-1)[0]
        y = b.node("Add", [b.node("Mul", [r, c], name=f"{n}.xcos")[0],
                           b.node("Mul", [turned, s], name=f"{n}.xsin")[0]], name=f"{n}.rope")[0]
        if rot != d:
            rest = b.node("Slice", [x, b.ints([rot]), b.ints([d]), b.ints([-1])],
                          name=f"{n}.passed_part")[0]
            y = b.node("Concat", [y, rest], name=f"{n}.rope_whole", axis=-1)[0]
        out.append(y)
    return out


def _last_rows(b, n: str, q: str, cos: str, sin: str, same_length: bool):
    """The tables' rows of the queries' positions: the last Tq of the Tk."""
    if same_length:
        return cos, sin
    tq = b.node("Shape", [q], name=f"{n}.tq", start=2, end=3)[0]
    start = b.node("Neg", [tq], name=f"{n}.query_start")[0]
    end = b.ints([np.iinfo(np.int64).max])
    return tuple(b.node("Slice", [t, start, end, b.ints([0])], name=f"{n}.query_rows")[0]
                 for t in (cos, sin))


def score_terms(b, n: str, scores: str, rank: int, dtype: str, causal: bool = False,
                window: int = 0, slopes=None, pad: str | None = None, mask: str | None = None,
                bias: str | None = None) -> str | None:
    """What attention adds to the scaled `scores` [..., Tq, Tk], as runtime.score_terms: the
    bias, ALiBi's -slope * |j - i| (queries at the last Tq key positions), then the dtype's
    lowest number where a mask forbids the key; None when nothing is added."""
    add = bias
    if slopes is not None or causal:
        tq = b.node("Shape", [scores], name=f"{n}.tq_len", start=rank - 2, end=rank - 1)[0]
        tk = b.node("Shape", [scores], name=f"{n}.tk_len", start=rank - 1, end=rank)[0]
        past = b.node("Sub", [tk, tq], name=f"{n}.past")[0]        # [1]: Tk - Tq
    if slopes is not None:
        i = b.node("Add", [b.node("Range", [b.scalar(0, "i64", "zero_i"), _scalar(b, n, tq, "tq0"),
                                            b.scalar(1, "i64", "one_i")], name=f"{n}.rows")[0],
                           past], name=f"{n}.query_pos")[0]
        j = b.node("Range", [b.scalar(0, "i64", "zero_i"), _scalar(b, n, tk, "tk0"),
                             b.scalar(1, "i64", "one_i")], name=f"{n}.key_pos")[0]
        dist = b.node("Abs", [b.node("Sub", [b.node("Unsqueeze", [j, b.ints([0])], name=f"{n}.j")[0],
                                             b.node("Unsqueeze", [i, b.ints([1])], name=f"{n}.i")[0]],
                                     name=f"{n}.offset")[0]], name=f"{n}.distance")[0]
        from .builder import np_dtype, onnx_dtype
        dist = b.node("Cast", [dist], name=f"{n}.distance_f", to=onnx_dtype(dtype))[0]
        neg = b.const(-np.asarray(slopes, np.float64).astype(np_dtype(dtype))[:, None, None],
                      f"{n}.alibi_slopes")
        alibi = b.node("Mul", [neg, dist], name=f"{n}.alibi")[0]
        add = alibi if add is None else b.node("Add", [add, alibi], name=f"{n}.plus_alibi")[0]
    allowed = mask
    if pad is not None:
        pad = b.node("Unsqueeze", [pad, b.ints([1, 2])], name=f"{n}.pad")[0]
        keep = b.node("Not", [pad], name=f"{n}.keep")[0]
        allowed = keep if allowed is None else b.node("And", [allowed, keep], name=f"{n}.kept")[0]
    if causal:
        square = b.node("Concat", [tq, tk], name=f"{n}.square_shape", axis=0)[0]
        ones = b.node("ConstantOfShape", [square], name=f"{n}.ones", value=_bool_one())[0]
        band = b.node("Trilu", [ones, _scalar(b, n, past, "k0")], name=f"{n}.tril", upper=0)[0]
        if window:
            far = b.node("Sub", [past, b.ints([window])], name=f"{n}.far_k")[0]
            older = b.node("Trilu", [ones, _scalar(b, n, far, "far0")], name=f"{n}.older", upper=0)[0]
            band = b.node("And", [band, b.node("Not", [older], name=f"{n}.recent")[0]],
                          name=f"{n}.window")[0]
        allowed = band if allowed is None else b.node("And", [allowed, band], name=f"{n}.allowed")[0]
    if allowed is not None:
        fill = b.node("Where", [allowed, b.scalar(0, dtype, "zero"),
                                b.scalar(float(np.finfo(np.float64 if dtype == "f64" else np.float32).min),
                                         dtype, "lowest")], name=f"{n}.mask_fill")[0]
        add = fill if add is None else b.node("Add", [add, fill], name=f"{n}.masked")[0]
    return add


def _scalar(b, n: str, x: str, what: str) -> str:
    """A [1] int64 tensor as a 0-D one."""
    return b.node("Squeeze", [x, b.ints([0])], name=f"{n}.{what}")[0]


def attend(b, n: str, q: str, k: str, v: str, scale: float, terms: dict, rank: int,
           out: str | None = None, dtype: str = "f32") -> str:
    """softmax(q k^T * scale + score_terms(**terms)) v on [..., T, d] tensors of `dtype`."""
    perm = list(range(rank - 2)) + [rank - 1, rank - 2]
    kt = b.node("Transpose", [k], name=f"{n}.kt", perm=perm)[0]
    scores = b.node("Mul", [b.node("MatMul", [q, kt], name=f"{n}.qk")[0],
                            b.scalar(scale, dtype, f"{n}.scale")],
                    name=f"{n}.scores")[0]
    add = score_terms(b, n, scores, rank, dtype, **terms)
    if add is not None:
        scores = b.node("Add", [scores, add], name=f"{n}.scores_plus")[0]
    probs = b.node("Softmax", [scores], name=f"{n}.softmax", axis=-1)[0]
    return b.node("MatMul", [probs, v], [out] if out else None, name=f"{n}.context")[0]


def _fusable(op, node) -> bool:
    """Self-attention with the packed projection (which grouped-query heads do not have), no
    rotary embedding, ALiBi, window, mask or bias, the default scale, in f32 (onnxruntime's
    CPU kernel; a half-precision model computes attention in f32 anyway, Node.upcast)."""
    xs = node.in_types
    return op.n_tensors(xs) == 1 and op.packed(*xs) and xs[0].dtype == "f32" and not (
        op.past or op.attention_mask or op.rotary or op.alibi or op.window is not None or op.mask
        or op.attn_bias or op.scale is not None)


def _fused(op, b, node, ins, outs) -> str:
    """com.microsoft.Attention: input [N, T, E] @ weights [E, 3E] + bias, `unidirectional`
    for causal, mask_index [N, T] int32 (1 = attend) from the key padding mask; the output
    projection stays a MatMul. Returns the context before that projection."""
    from .builder import CONTRIB, onnx_dtype
    n = node.name
    w = b.node("Transpose", [b.param(node, "in_proj_weight")], name=f"{n}.wt", perm=[1, 0])[0]
    bias = b.param(node, "in_proj_bias") if op.biases()[0] else ""
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
    n_t = op.n_tensors(xs)
    q_in = ins[0]
    k_in = ins[1] if n_t >= 2 else q_in
    v_in = ins[2] if n_t >= 3 else k_in
    qb, kb, vb, _ = op.biases()
    if op.projections == "separate":
        wq, wk, wv = (b.param(node, f"{c}_proj.weight") for c in "qkv")
        bq, bk, bv = (b.param(node, f"{c}_proj.bias") if has else None
                      for c, has in zip("qkv", (qb, kb, vb)))
    else:
        if op.packed(*xs):
            w = b.param(node, "in_proj_weight")
            wq, wk, wv = b.node("Split", [w, b.ints([e, ekv, ekv])], 3, name=f"{n}.in_proj", axis=0)
        else:
            wq, wk, wv = (b.param(node, f"{c}_proj_weight") for c in "qkv")
        bq = bk = bv = None
        if qb:
            bq, bk, bv = b.node("Split", [b.param(node, "in_proj_bias"), b.ints([e, ekv, ekv])], 3,
                                name=f"{n}.in_bias", axis=0)
    q = _split_heads(b, f"{n}.q", _project(b, f"{n}.q", q_in, wq, bq), op.heads, d)
    k = _split_heads(b, f"{n}.k", _project(b, f"{n}.k", k_in, wk, bk), kvh, d)
    v = _split_heads(b, f"{n}.v", _project(b, f"{n}.v", v_in, wv, bv), kvh, d)
    pad, keep, mask, bias = op.extras(ins[n_t:])
    if keep is not None:     # Hugging Face's attention mask: 0 = pad
        keep_t = xs[n_t + op.key_padding_mask]
        zero = b.node("Not", [keep], name=f"{n}.am_pad")[0] if keep_t.dtype == "bool" else \
            b.node("Equal", [keep, b.scalar(0, keep_t.dtype, "zero_id")], name=f"{n}.am_pad")[0]
        pad = zero if pad is None else b.node("Or", [pad, zero], name=f"{n}.pads")[0]
    past = op.cached(*ins)
    if op.rotary:
        q, k = _rope(b, node, q, k, op.rotated(*xs), d, op.rope_base,
                     op.rotary_layout == "interleaved", xs[0].shape[1] == xs[min(1, n_t - 1)].shape[1],
                     dtype, past[0] if past else None)
    if past:                 # the cache: the new keys and values after the past ones
        k = b.node("Concat", [past[0], k], [outs[1]], name=f"{n}.present_key", axis=2)[0]
        v = b.node("Concat", [past[1], v], [outs[2]], name=f"{n}.present_value", axis=2)[0]
    if kvh != op.heads:      # grouped-query: each kv head serves heads/kvh query heads
        rep = op.heads // kvh
        k, v = (_repeat_heads(b, n, t, kvh, rep, d) for t in (k, v))
    from ...ops.attention import alibi_slopes
    terms = dict(causal=op.causal, window=op.window or 0, pad=pad, mask=mask, bias=bias,
                 slopes=alibi_slopes(op.heads) if op.alibi else None)
    ctx = attend(b, n, q, k, v, op.factor(*xs), terms, rank=4, dtype=dtype)
    ctx = b.node("Transpose", [ctx], name=f"{n}.merge", perm=[0, 2, 1, 3])[0]
    ctx = b.node("Reshape", [ctx, b.ints([0, 0, e], "merge_shape")], name=f"{n}.merged")[0]
    _output(op, b, node, ctx, outs[:1])


def _output(op, b, node, ctx: str, outs) -> None:
    """The output projection of the merged heads [N, T, E]."""
    y = _project(b, f"{node.name}.out", ctx, b.param(node, "out_proj.weight"), None)
    if op.biases()[3]:
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
    q_t = node.in_types[0]
    mask, bias = op.extras(ins[3:])
    attend(b, node.name, *ins[:3], op.factor(q_t), dict(causal=op.causal, mask=mask, bias=bias),
           q_t.rank, out=outs[0], dtype=q_t.dtype)


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
