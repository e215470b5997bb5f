"""Hugging Face's language models against their specs in specs/hf/: each model is built from
the small config its spec's header gives, its weights moved off their initial values, saved
with save_pretrained (safetensors), read back by name and renamed by the spec's `.rename`
rules; dslc's torch module and ONNX graph (onnxruntime) must give HF's outputs (fp32, 1e-5)
at two sizes of every symbolic dim, and the spec must count HF's num_parameters()."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

import dslc
from dslc import rename_weights
from hf_support import HF_SPECS, checkpoint, compare, hf_output, randomise, same_parameters

SIZES = ((2, 7), (1, 3))          # (N, T): every symbolic dim at two values


def _qwen2():
    return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rope_theta=1e6, rms_norm_eps=1e-6,
        tie_word_embeddings=False, attn_implementation="eager"))


MISTRAL_WINDOW = 4


def _mistral():
    return transformers.MistralForCausalLM(transformers.MistralConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, sliding_window=MISTRAL_WINDOW,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
        attn_implementation="eager"))


def _phi():
    return transformers.PhiForCausalLM(transformers.PhiConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, partial_rotary_factor=0.5, rope_theta=10000.0,
        hidden_act="gelu_new", layer_norm_eps=1e-5, tie_word_embeddings=False,
        attn_implementation="eager"))


def _clip_text(eos: int):
    return lambda: transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=16, hidden_act="quick_gelu",
        layer_norm_eps=1e-5, eos_token_id=eos, attn_implementation="eager"))


def _distilbert():
    return transformers.DistilBertModel(transformers.DistilBertConfig(
        vocab_size=96, dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=16,
        activation="gelu", attn_implementation="eager"))


def _llama(kv_heads: int, tied: bool):
    return lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=kv_heads, rms_norm_eps=1e-6,
        tie_word_embeddings=tied, attn_implementation="eager"))


def _ids(vocab):
    return lambda rng, n, t: [rng.integers(0, vocab, size=(n, t)).astype(np.int64)]


def _distinct_ids(vocab):
    """Ids whose largest entry is unique in each row, at a different position in each row
    (n <= t): CLIP's end-of-text token, the argmax."""
    def make(rng, n, t):
        ids = rng.integers(0, vocab - 1, size=(n, t))
        ids[np.arange(n), rng.permutation(t)[:n]] = vocab - 1
        return [ids.astype(np.int64)]
    return make


def _eos_ids(vocab, eos):
    """Ids with `eos` at a different position in each row (n <= t), then eos again up to the
    end in the first row (padding with eos: CLIP's later rule takes the first)."""
    def make(rng, n, t):
        ids = rng.integers(eos + 1, vocab, size=(n, t))
        at = rng.permutation(t)[:n]
        ids[np.arange(n), at] = eos
        ids[0, at[0]:] = eos
        return [ids.astype(np.int64)]
    return make


def _padded_ids(vocab):
    """Ids and an attention mask (1 = token, 0 = padding) whose rows end in 0 to t - 1 pads."""
    def make(rng, n, t):
        mask = (np.arange(t) < rng.integers(1, t + 1, size=(n, 1))).astype(np.int64)
        mask[0, t // 2:] = 0                 # the first row padded whatever was drawn
        return [rng.integers(0, vocab, size=(n, t)).astype(np.int64), mask]
    return make


LOGITS = ("logits",)
CLIP_FIELDS = ("last_hidden_state", "pooler_output")
# case -> (spec file stem, model name, HF model builder, inputs for (rng, N, T), HF's output fields)
CASES = {
    "qwen2": ("qwen2", "Qwen2", _qwen2, _ids(96), LOGITS),
    "mistral": ("mistral", "Mistral", _mistral, _ids(96), LOGITS),
    "phi": ("phi", "Phi", _phi, _ids(96), LOGITS),
    "clip_text": ("clip_text", "ClipText", _clip_text(2), _distinct_ids(96), CLIP_FIELDS),
    "clip_text_eos": ("clip_text", "ClipTextEos", _clip_text(1), _eos_ids(96, 1), CLIP_FIELDS),
    "distilbert": ("distilbert", "DistilBert", _distilbert, _padded_ids(96), ("last_hidden_state",)),
    "llama": ("llama", "Llama", _llama(4, tied=False), _ids(96), LOGITS),
    "llama_tied": ("llama", "LlamaTied", _llama(1, tied=True), _ids(96), LOGITS),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> (dslc model, HF model, renamed checkpoint), each built once."""
    cache = {}

    def get(name):
        if name not in cache:
            spec, model_name, build = CASES[name][:3]
            torch.manual_seed(0)
            hf = randomise(build())
            state = checkpoint(hf, tmp_path_factory.mktemp(name))
            weights = rename_weights(state, HF_SPECS / f"{spec}.rename")
            cache[name] = dslc.load(HF_SPECS / f"{spec}.dl").models[model_name], hf, weights
        return cache[name]
    return get


@pytest.mark.parametrize("name", CASES)
def test_parameter_count(name, built):
    same_parameters(*built(name))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("n, t", SIZES)
def test_outputs(name, n, t, built):
    model, hf, weights = built(name)
    inputs, fields = CASES[name][3:]
    xs = inputs(np.random.default_rng(n * 10 + t), n, t)
    compare(model, weights, xs, hf_output(hf, *xs, fields=fields))


def test_mistral_window_is_used(built):
    """Hugging Face's Mistral really limits its attention to the window at T=7 > 4: without
    it the logits differ (so the spec's window= is what matches them)."""
    _, hf, _ = built("mistral")
    ids = _ids(96)(np.random.default_rng(0), 1, 7)
    windowed = hf_output(hf, *ids)
    hf.config.sliding_window = None
    try:
        full = hf_output(hf, *ids)
    finally:
        hf.config.sliding_window = MISTRAL_WINDOW
    assert np.abs(windowed - full)[0, MISTRAL_WINDOW:].max(axis=-1).min() > 1e-3
    np.testing.assert_allclose(windowed[:, :MISTRAL_WINDOW], full[:, :MISTRAL_WINDOW], rtol=1e-6)
