"""attention's and sdpa's options, each alone and combined, against a NumPy oracle written from
the definitions (pairs of features rotated by angle position * base^(-2i/dim), ALiBi's slopes
from Hugging Face's BLOOM, masks as explicit index conditions), in torch, torch-src and
onnxruntime with the same weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.models.bloom.modeling_bloom import build_alibi_tensor

import dslc
from support import random_weights, run_ort, run_torch, run_torch_src

D = 24
LOWEST = np.finfo(np.float32).min


def _header(extra: str) -> str:
    return f"model M {{\n    input x: f32[N, T, {D}]\n{extra}"


# name: (extra inputs and lines of the spec, the output expression, oracle settings)
CASES = {
    "qwen2_qkv_bias": ("", "x -> attention(4, projections=separate, bias=false, q_bias=true, "
                           "k_bias=true, v_bias=true)", {"separate": True}),
    "whisper_no_k_bias": ("", "x -> attention(4, projections=separate, k_bias=false)",
                          {"separate": True}),
    "mistral_gqa_window": ("", "x -> attention(4, kv_heads=2, projections=separate, bias=false, "
                               "causal=true, window=3, rotary=true, rope_base=1000.0)",
                           {"separate": True, "kv_heads": 2, "causal": True, "window": 3,
                            "rotary": 6, "base": 1000.0}),
    "prefill_after_cache": (f"    input past: f32[N, P, {D}]\n    kv = concat(past, x, axis=1)\n",
                            "attention(x, kv, kv, 4, causal=true, rotary=true)",
                            {"causal": True, "rotary": 6, "kv": "kv"}),
    "alibi_six_heads": ("", "x -> attention(6, causal=true, alibi=true)",
                        {"heads": 6, "causal": True, "alibi": True}),
    "alibi_bidirectional_padding": ("    input pad: bool[N, T]\n",
                                    "x -> attention(8, alibi=true, key_padding_mask=pad)",
                                    {"heads": 8, "alibi": True, "pad": "pad"}),
    "mask_and_padding": ("    input keep: bool[N, 1, T, T]\n    input pad: bool[N, T]\n",
                         "x -> attention(4, mask=keep, key_padding_mask=pad)",
                         {"mask": "keep", "pad": "pad"}),
    "t5_bias_unscaled": ("    input rb: f32[1, 4, T, T]\n",
                         "x -> attention(4, attn_bias=rb, scale=1.0, bias=false, projections=separate)",
                         {"separate": True, "bias": "rb", "scale": 1.0}),
    "bias_2d_causal_mask": ("    input rb: f32[T, T]\n    input keep: bool[T, T]\n",
                            "x -> attention(3, causal=true, attn_bias=rb, mask=keep, out_bias=false)",
                            {"heads": 3, "causal": True, "bias": "rb", "mask": "keep"}),
    "neox_partial_rotary": ("", "x -> attention(4, causal=true, rotary=true, rotary_dim=4, rope_base=500.0)",
                            {"causal": True, "rotary": 4, "base": 500.0}),
    "gptj_interleaved_prefill": (f"    input past: f32[N, P, {D}]\n    kv = concat(past, x, axis=1)\n",
                                 "attention(x, kv, kv, 4, kv_heads=2, projections=separate, causal=true, "
                                 "window=4, rotary=true, rotary_dim=4, rotary_layout=interleaved)",
                                 {"separate": True, "kv_heads": 2, "causal": True, "window": 4,
                                  "rotary": 4, "interleaved": True, "kv": "kv"}),
}
ENV = {"N": 2, "T": 5, "P": 3}


def _inputs(model, rng):
    xs = {}
    for p in model.inputs:
        shape = tuple(d.evaluate(ENV) for d in p.type.shape)
        if p.type.dtype == "bool":
            v = rng.random(shape) < 0.7
            if p.name == "pad":
                v = ~v                      # true = padding: mostly real keys
                v[0, :] = True              # every key of example 0 padded: no key allowed
            else:
                v.reshape(-1, shape[-1])[0] = False
            xs[p.name] = v
        else:
            xs[p.name] = rng.standard_normal(shape).astype(np.float32)
    return xs


def _rotate(x, positions, dim: int, base: float, interleaved: bool):
    """Each pair of features (i, i + dim/2), or (2i, 2i+1), turned by position * base^(-2i/dim)."""
    x = x.copy()
    for i in range(dim // 2):
        a, b = (2 * i, 2 * i + 1) if interleaved else (i, i + dim // 2)
        angle = positions * base ** (-2.0 * i / dim)
        xa, xb = x[..., a].copy(), x[..., b].copy()
        x[..., a] = xa * np.cos(angle) - xb * np.sin(angle)
        x[..., b] = xb * np.cos(angle) + xa * np.sin(angle)
    return x


def oracle(cfg: dict, w: dict, xs: dict):
    w = {k.removeprefix("attention_1."): v.astype(np.float64) for k, v in w.items()}
    x = xs["x"].astype(np.float64)
    kv = np.concatenate([xs["past"], xs["x"]], axis=1).astype(np.float64) if cfg.get("kv") else x
    h = cfg.get("heads", 4)
    kvh = cfg.get("kv_heads", h)
    d = D // h
    if cfg.get("separate"):
        ws = [w[f"{c}_proj.weight"] for c in "qkv"]
        bs = [w.get(f"{c}_proj.bias", 0.0) for c in "qkv"]
    else:
        ws = np.split(w["in_proj_weight"], [D, D + kvh * d])
        bs = np.split(w["in_proj_bias"], [D, D + kvh * d]) if "in_proj_bias" in w else [0.0] * 3
    n, tq, tk = x.shape[0], x.shape[1], kv.shape[1]
    q = (x @ ws[0].T + bs[0]).reshape(n, tq, h, d).transpose(0, 2, 1, 3)
    k = (kv @ ws[1].T + bs[1]).reshape(n, tk, kvh, d).transpose(0, 2, 1, 3)
    v = (kv @ ws[2].T + bs[2]).reshape(n, tk, kvh, d).transpose(0, 2, 1, 3)
    qpos, kpos = np.arange(tq) + tk - tq, np.arange(tk)
    if cfg.get("rotary"):
        args = (cfg["rotary"], cfg.get("base", 10000.0), cfg.get("interleaved", False))
        q, k = _rotate(q, qpos, *args), _rotate(k, kpos, *args)
    group = np.arange(h) // (h // kvh)          # the kv head serving each query head
    scores = np.einsum("nhid,nhjd->nhij", q, k[:, group]) * cfg.get("scale", 1 / np.sqrt(d))
    if cfg.get("alibi"):
        slopes = build_alibi_tensor(torch.ones(1, 2), h, torch.float64)[:, 0, 1].numpy()
        # causal: BLOOM's slope * key position (a constant per row away from -slope * (i - j));
        # both directions: -slope * |j - i|
        rel = kpos[None, :] if cfg.get("causal") else -np.abs(kpos[None, :] - qpos[:, None])
        scores = scores + slopes[None, :, None, None] * rel
    if cfg.get("bias"):
        scores = scores + xs[cfg["bias"]]
    allowed = np.ones(scores.shape, bool)
    if cfg.get("causal"):
        allowed &= kpos[None, :] <= qpos[:, None]
        if cfg.get("window"):
            allowed &= kpos[None, :] > qpos[:, None] - cfg["window"]
    if cfg.get("pad"):
        allowed &= ~xs[cfg["pad"]][:, None, None, :]
    if cfg.get("mask"):
        allowed &= xs[cfg["mask"]]
    none = ~allowed.any(-1, keepdims=True)              # no key allowed: the average of all
    scores = np.where(allowed | none, np.where(none, 0.0, scores), -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ctx = (p @ v[:, group]).transpose(0, 2, 1, 3).reshape(n, tq, D)
    return ctx @ w["out_proj.weight"].T + w.get("out_proj.bias", 0.0)


@pytest.mark.parametrize("case", CASES)
def test_attention_options_against_numpy(case):
    extra, expr, cfg = CASES[case]
    model = dslc.load(_header(extra) + f"    output y = {expr}\n}}").models["M"]
    w = random_weights(model)
    xs = _inputs(model, np.random.default_rng(3))
    ordered = [xs[p.name] for p in model.inputs]
    want = oracle(cfg, w, xs)
    for got in (run_torch(model, w, ordered)[0], run_ort(model, w, ordered)[0][0],
                run_torch_src(model, w, ordered)[0]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_separate_projections_are_hugging_face_names():
    """Qwen2's q/k/v biases without an output bias: HF's 138,304 for its attention's share."""
    m = dslc.load(_header("") + "    output y = x -> attention(4, kv_heads=2, projections=separate, "
                  "bias=false, q_bias=true, k_bias=true, v_bias=true)\n}").models["M"]
    shapes = {k.removeprefix("attention_1."): v for k, v in m.param_shapes().items()}
    assert shapes == {"q_proj.weight": (24, 24), "q_proj.bias": (24,), "k_proj.weight": (12, 24),
                      "k_proj.bias": (12,), "v_proj.weight": (12, 24), "v_proj.bias": (12,),
                      "out_proj.weight": (24, 24)}
    hf = torch.nn.ModuleDict({"q": torch.nn.Linear(24, 24), "k": torch.nn.Linear(24, 12),
                              "v": torch.nn.Linear(24, 12), "o": torch.nn.Linear(24, 24, bias=False)})
    assert m.params == sum(p.numel() for p in hf.parameters())


@pytest.mark.parametrize("expr,code,fragment", [
    ("attention(4, q_bias=false)", "E205", "share one in_proj_bias"),
    ("attention(4, window=3)", "E205", "needs causal=true"),
    ("attention(4, causal=true, window=0)", "E205", "at least 1"),
    ("attention(4, rotary_dim=4)", "E205", "need rotary=true"),
    ("attention(4, rotary=true, rotary_dim=5)", "E305", "even number"),
    ("attention(4, rotary=true, rotary_dim=8)", "E305", "2..6"),
    ("attention(4, scale=0.0)", "E205", "positive"),
    ("attention(4, mask=rb)", "E306", "bool"),
    ("attention(4, attn_bias=keep)", "E306", "floating-point"),
    ("attention(4, attn_bias=wide)", "E302", "does not broadcast"),
    ("attention(4, mask=per_key)", "E302", "does not broadcast"),
    ("attention(4, attention_mask=fk)", "E306", "integer or bool"),
    ("attention(4, causal=true, past=(pk2, pk2))", "E302", "past key"),
    ("attention(4, causal=true, past=pk)", "E208", "(key, value)"),
])
def test_attention_option_errors_are_located(expr, code, fragment):
    text = (_header("    input rb: f32[T, T]\n    input keep: bool[T, T]\n    input wide: f32[1, 3, T, T]\n"
                    "    input per_key: bool[N, T]\n    input pk: f32[N, 4, P, 6]\n"
                    "    input pk2: f32[N, 2, P, 6]\n    input fk: f32[N, T]\n")
            + f"    output y = x -> {expr}\n}}")
    errors = dslc.check_text(text).errors
    assert [e.code for e in errors] == [code] and fragment in errors[0].message, errors
    assert errors[0].span.line == 10
    if "per_key" in expr:          # the per-key masks are named
        assert "attention_mask=" in errors[0].help and "key_padding_mask=" in errors[0].help


def test_causal_cross_attention_needs_provably_more_keys():
    text = _header(f"    input mem: f32[N, S, {D}]\n") + "    output y = attention(x, mem, 4, causal=true)\n}"
    errors = dslc.check_text(text).errors
    assert [e.code for e in errors] == ["E302"] and "Tk >= Tq" in errors[0].expected


SDPA = """model S {
    input q: f32[2, 2, 4, 8]
    input past: f32[2, 2, 3, 8]
    input keep: bool[2, 1, 1, 7]
    input rb: f32[2, 4, 7]
    k = concat(past, q, axis=2)
    output y = sdpa(q, k, k, causal=true, mask=keep, attn_bias=rb, scale=0.5)
}"""


def test_sdpa_prefill_mask_and_bias_against_numpy():
    model = dslc.load(SDPA).models["S"]
    rng = np.random.default_rng(5)
    n, t, p = 2, 4, 3
    q = rng.standard_normal((n, 2, t, 8)).astype(np.float32)
    past = rng.standard_normal((n, 2, p, 8)).astype(np.float32)
    keep = rng.random((n, 1, 1, p + t)) < 0.8
    keep[..., -1] = True
    rb = rng.standard_normal((2, t, p + t)).astype(np.float32)
    k = np.concatenate([past, q], axis=2).astype(np.float64)
    scores = q @ k.transpose(0, 1, 3, 2) * 0.5 + rb
    allowed = keep & (np.arange(p + t)[None, :] <= np.arange(t)[:, None] + p)
    scores = np.where(allowed, scores, -np.inf)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    want = (w / w.sum(-1, keepdims=True)) @ k
    xs = [q, past, keep, rb]
    for got in (run_torch(model, {}, xs)[0], run_ort(model, {}, xs)[0][0], run_torch_src(model, {}, xs)[0]):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
