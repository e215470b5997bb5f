"""The KV-cache pass (dslc/passes/kv_cache.py): at every step of a greedy generation the cached
model's logits equal a full recompute of the whole sequence, in torch and onnxruntime, for
prompts of 1 and 7 tokens and a batch of 2; layers a cache cannot serve are named at their
lines; `compile --kv-cache` writes the graph."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from dslc.elab.kv_cache import CacheRefused, with_kv_cache
from specfiles import ROOT
from support import cli, random_weights, run_ort, run_torch, run_torch_src

# LLaMA's layer (rmsnorm, grouped-query rotary attention, SwiGLU) and Mistral's sliding window
LLAMA = """
block Layer(x: [N, T, D], heads: int = 4, kv: int = 2, ff: int = 64, window: int = 0) {
    a = x -> rmsnorm(name=input_layernorm)
    x = x + (a -> attention(heads, kv_heads=kv, causal=true, rotary=true, projections=separate,
                            bias=false, name=self_attn))
    m = x -> rmsnorm(name=post_attention_layernorm)
    g = m -> dense(ff, bias=false, name=gate_proj) -> silu
    return x + ((g * (m -> dense(ff, bias=false, name=up_proj))) -> dense(D, bias=false, name=down_proj))
}
model Llama(vocab: int = 64, d: int = 32) {
    input ids: i64[N, T]
    x = ids -> embedding(vocab, d, name=embed_tokens) -> Layer(name=layers) * 2 -> rmsnorm(name=norm)
    output logits = x -> dense(vocab, bias=false, name=lm_head)
}
"""
WINDOW = LLAMA.replace("bias=false, name=self_attn", "bias=false, window=3, name=self_attn")


def _ort(model, w, xs):
    return run_ort(model, w, xs)[0]


def torch_runner(model, w):
    """The model's torch module, built once: inputs (numpy) -> outputs (numpy)."""
    import torch
    module = model.to_torch(weights=w).eval()

    def run(xs):
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in xs])
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    return run


def ort_runner(model, w):
    """The model's ONNX graph in one onnxruntime session: inputs (numpy) -> outputs."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model.to_onnx(weights=w).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    names = [p.name for p in model.inputs]
    return lambda xs: sess.run(None, dict(zip(names, xs)))


def _generate(make, full, cached, w, prompt: np.ndarray, steps: int, kv=(2, 8)) -> float:
    """Greedy decoding with the cache; at each step the new logits against a full recompute
    of the whole sequence. Returns the largest difference."""
    kvh, d = kv
    step, whole = make(cached, w), make(full, w)
    past = [np.zeros((prompt.shape[0], kvh, 0, d), np.float32)] * (len(cached.inputs) - 2)
    seq, new, worst = prompt, prompt, 0.0
    for _ in range(steps):
        logits, *past = step([new, np.ones(seq.shape, np.int64), *past])
        want = whole([seq])[0]
        assert logits.shape == (seq.shape[0], new.shape[1], want.shape[-1])
        worst = max(worst, float(np.abs(logits - want[:, -new.shape[1]:]).max()))
        new = logits[:, -1].argmax(-1)[:, None]
        seq = np.concatenate([seq, new], axis=1)
    assert past[0].shape[2] == seq.shape[1] - 1
    return worst


@pytest.fixture(scope="module")
def llama():
    full = dslc.load(LLAMA).models["Llama"]
    return full, with_kv_cache(full), random_weights(full)


@pytest.mark.parametrize("make", [torch_runner, ort_runner], ids=["torch", "onnxruntime"])
@pytest.mark.parametrize("prompt_len", [1, 7])
def test_cached_generation_equals_full_recompute(llama, make, prompt_len):
    """Every step of a 32-token generation, a batch of 2."""
    full, cached, w = llama
    prompt = np.random.default_rng(prompt_len).integers(0, 64, (2, prompt_len))
    assert _generate(make, full, cached, w, prompt, steps=32) <= 1e-5


def test_sliding_window_shorter_than_the_generation():
    full = dslc.load(WINDOW).models["Llama"]
    w = random_weights(full)
    prompt = np.random.default_rng(0).integers(0, 64, (1, 4))
    for make in (torch_runner, ort_runner):
        assert _generate(make, full, with_kv_cache(full), w, prompt, steps=12) <= 1e-5


def test_cache_ports_and_types(llama):
    _, cached, _ = llama
    names = [(p.name, str(p.type)) for p in cached.inputs]
    assert names == [("ids", "i64[N, T]"), ("attention_mask", "i64[N, P + T]")] + [
        (f"past_key_values.{i}.{kv}", "f32[N, 2, P, 8]") for i in range(2) for kv in ("key", "value")]
    assert [(p.name, str(p.type)) for p in cached.outputs] == [("logits", "f32[N, T, 64]")] + [
        (f"present.{i}.{kv}", "f32[N, 2, P + T, 8]") for i in range(2) for kv in ("key", "value")]
    assert cached.constraints["P"] == {"min": 0}


def test_to_torch_kv_cache(llama):
    import torch
    full, _, w = llama
    module = full.to_torch(weights=w, kv_cache=True).eval()
    ids = torch.tensor([[1, 2, 3]])
    empty = torch.zeros(1, 2, 0, 8)
    with torch.no_grad():
        out = module(ids, torch.ones(1, 3, dtype=torch.long), *[empty] * 4)
    assert len(out) == 5 and tuple(out[1].shape) == (1, 2, 3, 8)


@pytest.mark.parametrize("body,layer,why", [
    ("x -> attention(4)", "attention_1", "not causal"),
    ("x -> transpose(1, 2) -> conv1d(32, 3, padding=1) -> transpose(1, 2) -> attention(4, causal=true)",
     "transpose_1", "transpose"),
    ("x -> softmax(axis=1) -> attention(4, causal=true)", "softmax_1", "over time"),
    ("x -> dense(32)", None, "has none"),
])
def test_layers_a_cache_cannot_serve_are_named(body, layer, why):
    model = dslc.load(f"model M {{\n    input x: f32[N, T, 32]\n    output y = {body}\n}}").models["M"]
    with pytest.raises(CacheRefused) as err:
        with_kv_cache(model)
    d = err.value.diagnostics[0]
    assert d.code == "E401" and why in d.message and (layer is None or d.message.startswith(layer))
    assert d.span.line in (1, 3)


def test_compile_kv_cache(tmp_path, capsys):
    import onnxruntime as ort
    spec = tmp_path / "llama.dl"
    spec.write_text(LLAMA)
    code, out, _ = cli(capsys, "compile", spec, "--target", "onnx", "--kv-cache", "-o", tmp_path / "m.onnx")
    assert code == 0, out
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()][:3] == ["ids", "attention_mask", "past_key_values.0.key"]
    assert [o.name for o in sess.get_outputs()][1] == "present.0.key"
    spec.write_text("model M {\n    input x: f32[N, T, 32]\n    output y = x -> attention(4)\n}\n")
    code, _, err = cli(capsys, "compile", spec, "--target", "onnx", "--kv-cache")
    assert code == 1 and "llama.dl:3:" in err and "not causal" in err


@pytest.mark.parametrize("make", [torch_runner, ort_runner], ids=["torch", "onnxruntime"])
def test_left_padded_batch_equals_each_sequence_alone(llama, make):
    """attention_mask (Hugging Face's: 0 = padding) on the cached model: a batch of a 7- and a
    4-token prompt, the shorter left-padded; at every step of a 32-token generation each row's
    logits equal a full recompute of that row alone."""
    full, cached, w = llama
    step, whole = make(cached, w), make(full, w)
    rows = [[5, 17, 42, 3, 9, 60, 1], [8, 2, 33, 4]]
    new = np.array([rows[0], [0, 0, 0] + rows[1]])
    mask = np.array([[1] * 7, [0] * 3 + [1] * 4])
    past, worst = [np.zeros((2, 2, 0, 8), np.float32)] * 4, 0.0
    for _ in range(32):
        logits, *past = step([new, mask, *past])
        for i, row in enumerate(rows):       # the prompt's padded positions left out
            k = min(new.shape[1], len(row))
            want = whole([np.array([row])])[0][0, -k:]
            worst = max(worst, float(np.abs(logits[i, -k:] - want).max()))
        new = logits[:, -1].argmax(-1)[:, None]
        rows = [row + [int(t)] for row, t in zip(rows, new[:, 0])]
        mask = np.concatenate([mask, np.ones((2, 1), int)], axis=1)
    assert worst <= 1e-5


def test_torch_src_cached_step():
    """torch-src's file of the cached model: the same step as the interpreter's module."""
    full = dslc.load(LLAMA).models["Llama"]
    cached, w = with_kv_cache(full), random_weights(full)
    xs = [np.array([[5, 2, 0], [1, 4, 4]]), np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]),
          *[np.random.default_rng(i).standard_normal((2, 2, 2, 8)).astype(np.float32) for i in range(4)]]
    for got, want in zip(run_torch_src(cached, w, xs), run_torch(cached, w, xs)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_learned_positions_of_the_course_gpt():
    """specs/transformer/char_gpt.dl (learned positions): the cache reads the table at the
    mask's position ids; generation equals a full recompute, and a left-padded row what it
    generates alone."""
    full = dslc.load(ROOT / "specs" / "transformer" / "char_gpt.dl").models["CharGPT"]
    cached, w = with_kv_cache(full), random_weights(full)
    assert [n.kind for n in cached.nodes].count("positions") == 1
    prompt = np.random.default_rng(0).integers(0, 30, (2, 5))
    for make in (torch_runner, ort_runner):
        assert _generate(make, full, cached, w, prompt, steps=20, kv=(4, 16)) <= 1e-5
    a, b = [3, 1, 4, 1, 5, 9], [2, 6]
    new, mask = np.array([a, [0] * 4 + b]), np.array([[1] * 6, [0] * 4 + [1] * 2])
    past = [np.zeros((2, 4, 0, 16), np.float32)] * 4
    logits, *past = _ort(cached, w, [new, mask, *past])
    alone = _ort(full, w, [np.array([b])])[0]
    np.testing.assert_allclose(logits[1, -2:], alone[0], rtol=1e-5, atol=1e-5)
