"""dslc against independent oracles: torch's own modules and functions with dslc's weights
loaded into them, or NumPy formulas written out here. Never dslc's other backend: a bug shared
by both backends (or one that parity cannot see, such as a training-mode option) must still
fail here. Covers the clipping activations, the training-mode behaviour of dropout, batchnorm
and recurrent inter-layer dropout, the attention options (key padding, causal, grouped-query,
rotary, dropout), sdpa's scale, the sinusoidal table, the class token, and `scan(frozen=)`."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dslc
from support import random_weights, run_ort, run_torch


def _model(body: str, inputs: str = "input x: f32[N, T, 8]"):
    return dslc.load(f"model M {{\n {inputs}\n {body}\n}}").model()


def _both(model, weights, xs):
    """Outputs of dslc's torch module (eval) and of its ONNX graph on onnxruntime."""
    return {"torch": run_torch(model, weights, xs), "onnx": run_ort(model, weights, xs)[0]}


def _close(got, want, atol=2e-5, what=""):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    diff = float(np.abs(got - want).max())
    assert diff <= atol, f"{what}: max |diff| {diff} > {atol}"


def _local(weights: dict, node: str) -> dict:
    """The weights of one node, by their local names, as torch tensors."""
    return {k[len(node) + 1:]: torch.from_numpy(np.asarray(v)) for k, v in weights.items()
            if k.startswith(node + ".")}


# ---------------------------------------------------------------- clipping activations

def _activation_input(points) -> np.ndarray:
    """U(-8, 8), then exact zeros (both signs), the clip points and their float32 neighbours."""
    x = np.random.default_rng(0).uniform(-8, 8, size=(4, 500)).astype(np.float32)
    special = [0.0, -0.0]
    for p in points:
        p = np.float32(p)
        special += [p, np.nextafter(p, np.float32(-np.inf)), np.nextafter(p, np.float32(np.inf))]
    x[0, :len(special)] = special
    x[1, :8] = 0.0
    return x


ACTIVATIONS = [
    ("relu6", lambda: nn.ReLU6(), (0.0, 6.0)),
    ("hardtanh", lambda: nn.Hardtanh(), (-1.0, 1.0)),
    ("hardtanh(-2.5, 3)", lambda: nn.Hardtanh(-2.5, 3.0), (-2.5, 3.0)),
    ("hardtanh(min_val=0.5, max_val=4)", lambda: nn.Hardtanh(0.5, 4.0), (0.5, 4.0)),
    ("step", lambda: (lambda t: (t >= 0).to(t.dtype)), (0.0,)),
]


@pytest.mark.parametrize("call, ref, points", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_clipping_activations_equal_torch(call, ref, points):
    m = _model(f"output y = x -> {call}", "input x: f32[N, F]")
    x = _activation_input(points)
    want = ref()(torch.from_numpy(x)).numpy()
    assert x.min() < min(points) and x.max() > max(points) and np.isin(points, x).all()
    for backend, out in _both(m, {}, [x]).items():
        np.testing.assert_array_equal(out[0], want, err_msg=f"{call} in {backend}")


# ---------------------------------------------------------------- training mode

@pytest.mark.parametrize("call, p", [("dropout(0.2)", 0.2), ("dropout(p=0.7)", 0.7)])
def test_dropout_rate_and_scale_in_training(call, p):
    m = _model(f"output y = x -> {call}", "input x: f32[N, F]")
    module = m.to_torch().train()
    ones = torch.ones(100, 1000)
    torch.manual_seed(0)
    y = module(ones)
    n = ones.numel()
    rate = float((y == 0).double().mean())
    assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / n), f"zero rate {rate}, p = {p}"
    survivors = y[y != 0]
    torch.testing.assert_close(survivors, torch.full_like(survivors, 1 / (1 - p)))
    x = np.random.default_rng(1).standard_normal((7, 33)).astype(np.float32)
    for backend, out in _both(m, {}, [x]).items():          # inference: the identity
        np.testing.assert_array_equal(out[0], x, err_msg=backend)


BN_CASES = [((16, 5), "batchnorm", nn.BatchNorm1d), ((16, 5, 7), "batchnorm1d", nn.BatchNorm1d),
            ((6, 3, 4, 5), "batchnorm", nn.BatchNorm2d), ((6, 3, 4, 5), "batchnorm2d", nn.BatchNorm2d)]


def _batchnorm_step(shape, kind, momentum, x):
    """dslc's batchnorm after one training step on x: (output, running_mean, running_var), and
    the same from torch's BatchNorm with dslc's weights and statistics loaded."""
    m = _model(f"output y = x -> {kind}(momentum={momentum}, name=bn)",
               f"input x: f32{list(shape)}")
    w = random_weights(m)
    module = m.to_torch(weights=w).train()
    ref = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}[len(shape)](shape[1], momentum=momentum)
    local = _local(w, "bn")
    assert set(local) == {"weight", "bias", "running_mean", "running_var"}
    ref.load_state_dict(local, strict=False)                # all but num_batches_tracked
    ref.train()
    xt = torch.from_numpy(x)
    got = module(xt).detach()
    want = ref(xt).detach()
    return (got, module.bn.running_mean.clone(), module.bn.running_var.clone()), \
        (want, ref.running_mean.clone(), ref.running_var.clone()), w


@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("shape, kind, ref_cls", BN_CASES, ids=[f"{c[1]}{list(c[0])}" for c in BN_CASES])
def test_batchnorm_training_step_equals_torch(shape, kind, ref_cls, momentum):
    x = (np.random.default_rng(2).standard_normal(shape) * 2 + 1).astype(np.float32)
    (y, mean, var), (want_y, want_mean, want_var), w = _batchnorm_step(shape, kind, momentum, x)
    _close(y, want_y, 1e-5, "batch-normalised output")
    _close(mean, want_mean, 1e-6, "running_mean")
    _close(var, want_var, 1e-6, "running_var")
    # the statistics moved from the loaded ones by `momentum` of the batch's
    axes = (0,) + tuple(range(2, len(shape)))
    n = x.size // shape[1]
    batch_var = x.astype(np.float64).var(axis=axes) * n / (n - 1)     # unbiased, as torch keeps
    _close(mean, (1 - momentum) * w["bn.running_mean"] + momentum * x.mean(axis=axes), 1e-5, "mean")
    _close(var, (1 - momentum) * w["bn.running_var"] + momentum * batch_var, 1e-5, "var")


def test_batchnorm_momentum_changes_the_statistics():
    x = (np.random.default_rng(3).standard_normal((16, 5)) * 2 + 1).astype(np.float32)
    a = _batchnorm_step((16, 5), "batchnorm", 0.1, x)[0]
    b = _batchnorm_step((16, 5), "batchnorm", 0.3, x)[0]
    assert torch.equal(a[0], b[0])                           # the output uses the batch's stats
    assert (a[1] - b[1]).abs().min() > 1e-3 and (a[2] - b[2]).abs().min() > 1e-3


@pytest.mark.parametrize("layer, ref", [("rnn", nn.RNN), ("lstm", nn.LSTM)])
def test_recurrent_inter_layer_dropout(layer, ref):
    m = _model(f"output y = x -> {layer}(8, layers=2, dropout=0.5, name=r)", "input x: f32[N, T, 5]")
    w = random_weights(m)
    module = m.to_torch(weights=w)
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((3, 6, 5)).astype(np.float32))
    module.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = module(x), module(x)
    assert (a - b).abs().max() > 1e-3, "dropout between the layers does nothing in train()"
    module.eval()
    with torch.no_grad():
        c, d = module(x), module(x)
    assert torch.equal(c, d)
    oracle = ref(5, 8, 2, batch_first=True)                # no dropout: the eval-mode network
    oracle.load_state_dict(_local(w, "r"))
    with torch.no_grad():
        want = oracle(x)[0]
    _close(c, want, 1e-5, "eval")
    _close(run_ort(m, w, [x.numpy()])[0][0], want, 1e-5, "onnx")
    # the first layer's output is not dropped: with one layer train() is deterministic
    with pytest.warns(UserWarning, match="num_layers"):      # torch's own warning
        one = _model(f"output y = x -> {layer}(8, dropout=0.5)", "input x: f32[N, T, 5]").to_torch().train()
    with torch.no_grad():
        assert torch.equal(one(x), one(x))


# ---------------------------------------------------------------- attention against nn.MultiheadAttention

def _mha(weights, node, e, heads, **kw) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(e, heads, batch_first=True, **kw)
    ref.load_state_dict(_local(weights, node))                  # strict: the same names
    return ref.eval()


def _lengths_mask(lengths, t) -> np.ndarray:
    return np.arange(t)[None, :] >= np.asarray(lengths)[:, None]      # true = padding


def _mha_out(ref, q, k, v, pad=None, causal=False):
    tq, tk = q.shape[1], k.shape[1]
    attn_mask = torch.ones(tq, tk, dtype=torch.bool).triu(1) if causal else None
    with torch.enable_grad():                        # the documented (slow) path, never the fast one
        out, _ = ref(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v),
                     key_padding_mask=None if pad is None else torch.from_numpy(pad),
                     attn_mask=attn_mask, need_weights=False)
    return out.detach().numpy()


@pytest.mark.parametrize("opts, masked, causal", [
    ("key_padding_mask=pad", True, False),
    ("causal=true", False, True),
    ("causal=true, key_padding_mask=pad", True, True),
    ("key_padding_mask=pad, bias=false", True, False),
])
def test_self_attention_equals_multihead_attention(opts, masked, causal):
    inputs = "input x: f32[N, T, 8]" + ("\n input pad: bool[N, T]" if masked else "")
    m = _model(f"output y = x -> attention(2, {opts}, name=att)", inputs)
    w = random_weights(m)
    x = np.random.default_rng(5).standard_normal((4, 6, 8)).astype(np.float32)
    pad = _lengths_mask([6, 4, 1, 6], 6)                # rows 0 and 3 full length
    ref = _mha(w, "att", 8, 2, bias="bias=false" not in opts)
    want = _mha_out(ref, x, x, x, pad if masked else None, causal)
    assert np.isfinite(want).all()
    if masked:      # the mask matters on padded rows and not on full-length ones
        free = _mha_out(ref, x, x, x, None, causal)
        assert np.abs(free[1:3] - want[1:3]).max() > 1e-3
        _close(free[[0, 3]], want[[0, 3]], 1e-6, "full-length rows")
    xs = [x, pad] if masked else [x]
    for backend, out in _both(m, w, xs).items():
        _close(out[0], want, 2e-5, backend)


def test_cross_attention_with_padded_memory_equals_multihead_attention():
    m = _model("output y = (q, mem) -> attention(2, key_padding_mask=pad, name=att)",
               "input q: f32[N, S, 8]\n input mem: f32[N, T, 8]\n input pad: bool[N, T]")
    w = random_weights(m)
    rng = np.random.default_rng(6)
    q = rng.standard_normal((3, 4, 8)).astype(np.float32)
    mem = rng.standard_normal((3, 5, 8)).astype(np.float32)
    pad = _lengths_mask([5, 2, 3], 5)
    want = _mha_out(_mha(w, "att", 8, 2), q, mem, mem, pad)
    for backend, out in _both(m, w, [q, mem, pad]).items():
        _close(out[0], want, 2e-5, backend)


def test_attention_with_other_key_and_value_widths_equals_multihead_attention():
    m = _model("output y = (q, k, v) -> attention(2, key_padding_mask=pad, causal=true, name=att)",
               "input q: f32[N, T, 8]\n input k: f32[N, T, 6]\n input v: f32[N, T, 10]\n"
               " input pad: bool[N, T]")
    w = random_weights(m)
    assert "att.q_proj_weight" in w
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((3, 5, f)).astype(np.float32) for f in (8, 6, 10))
    pad = _lengths_mask([5, 3, 1], 5)
    want = _mha_out(_mha(w, "att", 8, 2, kdim=6, vdim=10), q, k, v, pad, causal=True)
    for backend, out in _both(m, w, [q, k, v, pad]).items():
        _close(out[0], want, 2e-5, backend)


# ---------------------------------------------------------------- grouped-query attention

def _projections(w, node, x, e, ekv):
    """q, k, v projected in the test from dslc's weights: [N, T, E], [N, T, Ekv] twice."""
    if f"{node}.in_proj_weight" in w:
        wq, wk, wv = np.split(w[f"{node}.in_proj_weight"], [e, e + ekv])
    else:
        wq, wk, wv = (w[f"{node}.{c}_proj_weight"] for c in "qkv")
    b = w.get(f"{node}.in_proj_bias", np.zeros(e + 2 * ekv, np.float32))
    bq, bk, bv = np.split(b, [e, e + ekv])
    return x @ wq.T + bq, x @ wk.T + bk, x @ wv.T + bv


def _heads(t, h):
    n, s, f = t.shape
    return t.reshape(n, s, h, f // h).transpose(0, 2, 1, 3)


def _merge_out(w, node, ctx):
    n, h, s, d = ctx.shape
    return ctx.transpose(0, 2, 1, 3).reshape(n, s, h * d) @ w[f"{node}.out_proj.weight"].T \
        + w[f"{node}.out_proj.bias"]


@pytest.mark.parametrize("heads, kv_heads, causal", [(4, 2, False), (4, 2, True), (6, 3, False)])
def test_grouped_query_attention_equals_sdpa_enable_gqa(heads, kv_heads, causal):
    e = 4 * heads
    m = _model(f"output y = x -> attention({heads}, kv_heads={kv_heads}, causal={str(causal).lower()}, name=att)",
               f"input x: f32[N, T, {e}]")
    w = random_weights(m)
    x = np.random.default_rng(8).standard_normal((2, 5, e)).astype(np.float32)
    q, k, v = _projections(w, "att", x, e, kv_heads * 4)
    q, k, v = (torch.from_numpy(_heads(t, h)) for t, h in ((q, heads), (k, kv_heads), (v, kv_heads)))
    ctx = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True).numpy()
    want = _merge_out(w, "att", ctx)
    # the grouping matters: kv heads tiled (0, 1, 0, 1) instead of interleaved (0, 0, 1, 1) differ
    g = heads // kv_heads
    tiled = F.scaled_dot_product_attention(q, k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1),
                                           is_causal=causal).numpy()
    assert np.abs(_merge_out(w, "att", tiled) - want).max() > 1e-3
    for backend, out in _both(m, w, [x]).items():
        _close(out[0], want, 2e-5, backend)


# ---------------------------------------------------------------- rotary embedding, in NumPy

def _rope_np(t, base=10000.0):
    """Rotate-half RoPE on [N, h, T, d] in float64: the pairs (i, i + d/2) turn by the angle
    pos * base^(-2i/d), positions 0..T-1."""
    d, s = t.shape[-1], t.shape[-2]
    half = d // 2
    theta = np.arange(s, dtype=np.float64)[:, None] * base ** (-2.0 * np.arange(half) / d)
    c, si = np.cos(theta), np.sin(theta)
    x1, x2 = t[..., :half], t[..., half:]
    return np.concatenate([x1 * c - x2 * si, x2 * c + x1 * si], axis=-1)


def _softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def _attention_np(w, node, x, heads, causal, rotary):
    """Multi-head self-attention in float64 from dslc's weights, RoPE on q and k if asked."""
    e, s = x.shape[-1], x.shape[1]
    q, k, v = (_heads(t, heads) for t in _projections(w, node, x, e, e))
    if rotary:
        q, k = _rope_np(q), _rope_np(k)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(e // heads)
    if causal:
        scores = np.where(np.tril(np.ones((s, s), bool)), scores, -np.inf)
    return _merge_out(w, node, _softmax(scores) @ v)


@pytest.mark.parametrize("heads, causal", [(2, False), (2, True), (1, False)])
def test_rotary_attention_equals_numpy_rope(heads, causal):
    m = _model(f"output y = x -> attention({heads}, rotary=true, causal={str(causal).lower()}, name=att)")
    w = random_weights(m)
    x = np.random.default_rng(9).standard_normal((2, 7, 8)).astype(np.float32)
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    want = _attention_np(w64, "att", x.astype(np.float64), heads, causal, rotary=True)
    plain = _attention_np(w64, "att", x.astype(np.float64), heads, causal, rotary=False)
    assert np.abs(plain - want).max() > 1e-2             # the rotation changes the output
    for backend, out in _both(m, w, [x]).items():
        _close(out[0], want, 2e-5, backend)


# ---------------------------------------------------------------- attention dropout (train only)

def test_attention_dropout_rate_and_scale_in_training():
    """Uniform attention (zero q/k projections) over constant values (v = its bias, ones) and
    an identity output projection: each output is kept / (Tk (1 - p)), kept ~ Binomial(Tk, 1-p)."""
    p, n, t = 0.3, 100, 45
    m = _model(f"output y = x -> attention(1, dropout={p}, name=att)", "input x: f32[N, T, 4]")
    w = random_weights(m)
    w["att.in_proj_weight"] = np.zeros((12, 4), np.float32)
    w["att.in_proj_bias"] = np.concatenate([np.zeros(8), np.ones(4)]).astype(np.float32)
    w["att.out_proj.weight"] = np.eye(4, dtype=np.float32)
    w["att.out_proj.bias"] = np.zeros(4, np.float32)
    module = m.to_torch(weights=w).train()
    x = torch.from_numpy(np.random.default_rng(10).standard_normal((n, t, 4)).astype(np.float32))
    torch.manual_seed(0)
    with torch.no_grad():
        y = module(x).double().numpy()
    assert np.ptp(y, axis=-1).max() < 1e-6                 # one value per query
    kept = y[..., 0] * t * (1 - p)
    assert np.abs(kept - np.round(kept)).max() < 1e-3       # survivors scaled by 1/(1-p)
    rate = kept.sum() / (n * t * t)
    assert abs(rate - (1 - p)) <= 5 * math.sqrt(p * (1 - p) / (n * t * t)), rate
    # independent draws per weight: the kept counts spread as a binomial's, sd sqrt(Tk p (1-p))
    assert abs(kept.std() / math.sqrt(t * p * (1 - p)) - 1) < 0.15, kept.std()
    for backend, out in _both(m, w, [x.numpy()]).items():  # inference: no dropout
        _close(out[0], np.ones((n, t, 4)), 1e-5, backend)


def test_attention_dropout_differs_in_train_and_equals_mha_in_eval():
    m = _model("output y = x -> attention(2, dropout=0.5, causal=true, name=att)")
    w = random_weights(m)
    module = m.to_torch(weights=w)
    x = np.random.default_rng(11).standard_normal((2, 6, 8)).astype(np.float32)
    xt = torch.from_numpy(x)
    module.train()
    torch.manual_seed(0)
    with torch.no_grad():
        a, b = module(xt), module(xt)
    assert (a - b).abs().max() > 1e-3
    want = _mha_out(_mha(w, "att", 8, 2, dropout=0.5), x, x, x, causal=True)
    module.eval()
    with torch.no_grad():
        _close(module(xt), want, 2e-5, "eval")
        _close(module(xt), module(xt), 0.0, "eval is deterministic")
    _close(run_ort(m, w, [x])[0][0], want, 2e-5, "onnx")


def test_attention_dropout_is_checked():
    p = dslc.check_text("model M { input x: f32[N, T, 8]\n output y = x -> attention(2, dropout=1.5) }")
    assert [d.code for d in p.errors] == ["E205"] and "dropout" in p.errors[0].message


# ---------------------------------------------------------------- sdpa

@pytest.mark.parametrize("opts, kw, tk", [
    ("scale=0.3", dict(scale=0.3), 6),
    ("causal=true", dict(is_causal=True), 5),
    ("causal=true, scale=0.3", dict(is_causal=True, scale=0.3), 5),
    ("", {}, 6),
])
def test_sdpa_equals_torch(opts, kw, tk):
    m = dslc.load(f"""model M {{ input q: f32[N, H, {"T" if tk == 5 else "S"}, 4]
        input k: f32[N, H, T, 4]
        input v: f32[N, H, T, 7]
        output y = sdpa(q, k, v{', ' + opts if opts else ''}) }}""").model()
    rng = np.random.default_rng(12)
    q = (2 * rng.standard_normal((2, 3, 5, 4))).astype(np.float32)
    k = (2 * rng.standard_normal((2, 3, tk, 4))).astype(np.float32)
    v = rng.standard_normal((2, 3, tk, 7)).astype(np.float32)
    want = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v)), **kw).numpy()
    default = F.scaled_dot_product_attention(*map(torch.from_numpy, (q, k, v))).numpy()
    assert (np.abs(default - want).max() > 1e-2) == bool(kw)
    for backend, out in _both(m, {}, [q, k, v]).items():
        _close(out[0], want, 2e-5, backend)


# ---------------------------------------------------------------- positional table, class token

def _sinusoid_np(rows, d):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pe = np.zeros((rows, d))
    for pos in range(rows):
        for j in range(d):
            i2 = j - j % 2
            angle = pos / 10000 ** (i2 / d)
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize("t, d", [(5, 6), (16, 6), (9, 7), (12, 32)])
def test_sinusoidal_positions_equal_the_formula(t, d):
    m = _model("output y = x -> positional(16, encoding=sinusoidal)", f"input x: f32[N, T, {d}]")
    assert m.params == 0
    x = np.random.default_rng(13).standard_normal((2, t, d)).astype(np.float32)
    want = x + _sinusoid_np(16, d)[:t]
    for backend, out in _both(m, {}, [x]).items():
        _close(out[0], want, 1e-6, backend)


def test_class_token_is_prepended():
    m = _model("output y = x -> class_token(name=cls)", "input x: f32[N, T, 6]")
    w = random_weights(m)
    token = w["cls.weight"].reshape(6)
    assert np.abs(token).min() > 0
    x = np.random.default_rng(14).standard_normal((3, 4, 6)).astype(np.float32)
    for backend, out in _both(m, w, [x]).items():
        y = out[0]
        assert y.shape == (3, 5, 6), backend
        np.testing.assert_array_equal(y[:, 0], np.broadcast_to(token, (3, 6)), err_msg=backend)
        np.testing.assert_array_equal(y[:, 1:], x, err_msg=backend)


# ---------------------------------------------------------------- scan(frozen=true)

CELL = """block Cell(x: [N, 3], s: [N, 3]) {
    n = (x + s) -> dense(3, name=inner) -> tanh
    return n, n
}
block Wrap(x: [N, T, 3]) { return x -> scan(Cell, name=loop) }
"""


def _grads(model) -> dict:
    module = model.to_torch()
    n_inputs = len(model.inputs)
    out = module(*[torch.randn(2, 4, 3) for _ in range(n_inputs)])
    sum(o.sum() for o in (out if isinstance(out, tuple) else (out,))).backward()
    return {k: (p.requires_grad, p.grad is not None) for k, p in module.named_parameters()}


def test_frozen_scan_freezes_the_cell():
    m = dslc.load(CELL + """model M { input x: f32[N, T, 3]
        output a = x -> scan(Cell, frozen=true, name=fz)
        output b = x -> scan(Cell, name=tr) }""").model()
    assert m.params == 24 and m.trainable_params == 12
    assert _grads(m) == {"fz.Cell_1.inner.weight": (False, False), "fz.Cell_1.inner.bias": (False, False),
                         "tr.Cell_1.inner.weight": (True, True), "tr.Cell_1.inner.bias": (True, True)}
    w = random_weights(m)
    x = np.random.default_rng(15).standard_normal((2, 4, 3)).astype(np.float32)
    t, o = run_torch(m, w, [x]), run_ort(m, w, [x])[0]
    _close(t[0], o[0], 1e-5, "frozen scan still runs")


def test_frozen_layer_inside_a_cell_and_scan_inside_a_frozen_block():
    m = dslc.load(CELL.replace("name=inner)", "name=inner, frozen=true) -> dense(3, name=free)") +
                  """model M { input x: f32[N, T, 3]
        output a = x -> scan(Cell, name=s)
        output b = x -> Wrap(frozen=true, name=w)
        output c = x -> Wrap(name=v) }""").model()
    assert set(m.param_shapes()) == {f"{p}.Cell_1.{l}.{k}" for p in ("s", "w.loop", "v.loop")
                                     for l in ("inner", "free") for k in ("weight", "bias")}
    assert m.params == 72 and m.trainable_params == 12 + 12
    trainable = {k for k, (req, grad) in _grads(m).items() if req and grad}
    assert trainable == {"s.Cell_1.free.weight", "s.Cell_1.free.bias",
                         "v.loop.Cell_1.free.weight", "v.loop.Cell_1.free.bias"}
    w = random_weights(m)
    x = np.random.default_rng(16).standard_normal((2, 4, 3)).astype(np.float32)
    for a, b in zip(run_torch(m, w, [x]), run_ort(m, w, [x])[0]):
        _close(a, b, 1e-5, "scan inside a block runs in both backends")


def test_frozen_scan_keeps_its_weights_through_an_optimiser_step():
    m = dslc.load(CELL + """model M { input x: f32[N, T, 3]
        output y = x -> scan(Cell, frozen=true) -> dense(2, name=head) }""").model()
    module = m.to_torch()
    before = {k: p.detach().clone() for k, p in module.named_parameters()}
    opt = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.5)
    module(torch.randn(3, 4, 3)).pow(2).sum().backward()
    opt.step()
    changed = {k for k, p in module.named_parameters() if not torch.equal(p, before[k])}
    assert changed == {"head.weight", "head.bias"}


def test_scan_frozen_must_be_a_bool():
    p = dslc.check_text(CELL + "model M { input x: f32[N, T, 3]\n output y = x -> scan(Cell, frozen=3) }")
    assert [d.code for d in p.errors] == ["E205"] and "frozen" in p.errors[0].message


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_lengths_equal_torch_packed_sequences(cell):
    """`lengths=`: padded steps output zeros and keep the state, as torch's packed sequences
    do (batch 3, not equal to T, so a time-major mix-up cannot hide)."""
    outs = "y, h, c" if cell == "lstm" else "y, h"           # lstm's state is (h, c)
    src = (f"model M {{ input x: f32[N, T, 4]\n input len: i64[N]\n"
           f" output {outs} = x -> {cell}(6, lengths=len, state=true) }}")
    model = dslc.load(src).model()
    w = random_weights(model)
    ref = getattr(nn, cell.upper())(4, 6, batch_first=True)
    ref.load_state_dict({k.split(".", 1)[1]: torch.from_numpy(v) for k, v in w.items()})
    x = np.random.default_rng(4).standard_normal((3, 5, 4)).astype(np.float32)
    lengths = np.array([5, 2, 3], np.int64)
    with torch.no_grad():
        packed = nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                                   batch_first=True, enforce_sorted=False)
        out, state = ref(packed)
        want_y = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=5)[0].numpy()
        want = [want_y] + [t.numpy() for t in (state if cell == "lstm" else (state,))]
    for got in _both(model, w, [x, lengths]).values():
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
        assert len(got) == len(want) and not got[0][1, 2:].any()     # padded steps are zeros
