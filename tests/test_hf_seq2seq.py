"""Hugging Face's T5 encoder and BART against their specs in specs/hf/, as tests/test_hf_text.py
does for the decoder-only models: each model built from its spec header's small config, its
weights moved off their initial values, saved with save_pretrained (safetensors), read back by
name and renamed by the spec's `.rename` rules; dslc's torch module and ONNX graph
(onnxruntime) must give HF's outputs (fp32, 1e-5) at two sizes of every symbolic dim, and the
spec must count HF's num_parameters()."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

import dslc
from dslc import rename_weights
from hf_support import HF_SPECS, checkpoint, compare, hf_output, randomise, same_parameters

SIZES = ((2, 7, 5), (1, 3, 2))    # (N, S, T): every symbolic dim at two values (T5 reads N, S)


def _t5_encoder():
    return transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=64, d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=16,
        feed_forward_proj="relu", layer_norm_epsilon=1e-6, attn_implementation="eager"))


def _bart():
    return transformers.BartModel(transformers.BartConfig(
        vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=32, activation_function="gelu", scale_embedding=False,
        attn_implementation="eager"))


def _mask(rng, n, t):
    """HF's attention mask (1 = token, 0 = padding) whose rows end in 0 to t - 1 pads; the
    first row keeps its first (t + 1) // 2 tokens (two of three: a query that sees two keys,
    so the scores' scale shows) whatever was drawn."""
    mask = (np.arange(t) < rng.integers(1, t + 1, size=(n, 1))).astype(np.int64)
    mask[0, (t + 1) // 2:] = 0
    return mask


def _t5_inputs(padded: bool):
    def make(rng, n, s, t):
        ids = rng.integers(0, 64, size=(n, s)).astype(np.int64)
        mask = _mask(rng, n, s) if padded else np.ones((n, s), np.int64)
        return {"input_ids": ids, "attention_mask": mask}
    return make


def _bart_inputs(rng, n, s, t):
    return {"input_ids": rng.integers(0, 64, size=(n, s)).astype(np.int64),
            "decoder_input_ids": rng.integers(0, 64, size=(n, t)).astype(np.int64)}


# case -> (spec file stem, model name, HF model builder, inputs by name for (rng, N, S, T),
# the names HF is called with, HF's output fields in the spec's output order)
CASES = {
    "t5_encoder": ("t5_encoder", "T5Encoder", _t5_encoder, _t5_inputs(padded=True),
                   ("input_ids", "attention_mask"), ("last_hidden_state",)),
    "t5_encoder_unmasked": ("t5_encoder", "T5Encoder", _t5_encoder, _t5_inputs(padded=False),
                            ("input_ids",), ("last_hidden_state",)),
    "bart": ("bart", "Bart", _bart, _bart_inputs, ("input_ids", "decoder_input_ids"),
             ("last_hidden_state", "encoder_last_hidden_state")),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """spec stem -> (dslc model, HF model, renamed checkpoint), each built once."""
    cache = {}

    def get(name):
        spec, model_name, build = CASES[name][:3]
        if spec not in cache:
            torch.manual_seed(0)
            hf = randomise(build())
            state = checkpoint(hf, tmp_path_factory.mktemp(spec))
            weights = rename_weights(state, HF_SPECS / f"{spec}.rename")
            cache[spec] = dslc.load(HF_SPECS / f"{spec}.dl").models[model_name], hf, weights
        return cache[spec]
    return get


def _hf(hf, xs: dict, names, fields):
    """HF's outputs for the inputs `names` of `xs`, by keyword (the unmasked T5 case calls HF
    without attention_mask, the spec with a mask of ones)."""
    return hf_output(hf, fields=fields, **{k: torch.from_numpy(xs[k]) for k in names})


@pytest.mark.parametrize("name", ["t5_encoder", "bart"])
def test_parameter_count(name, built):
    same_parameters(*built(name))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("n, s, t", SIZES)
def test_outputs(name, n, s, t, built):
    model, hf, weights = built(name)
    inputs, names, fields = CASES[name][3:]
    xs = inputs(np.random.default_rng(n * 100 + s * 10 + t), n, s, t)
    compare(model, weights, [xs[p.name] for p in model.inputs], _hf(hf, xs, names, fields))


def test_t5_bias_and_mask_are_used(built):
    """At the test's sizes HF's T5 outputs depend on the relative position bias (zeroing its
    table changes them) and on the padding (masking changes the tokens of a padded row), so
    the spec's attn_bias= and attention_mask= are what match them."""
    _, hf, _ = built("t5_encoder")
    xs = _t5_inputs(padded=True)(np.random.default_rng(0), 2, 7, 0)
    with_mask = _hf(hf, xs, ("input_ids", "attention_mask"), ("last_hidden_state",))[0]
    without = _hf(hf, xs, ("input_ids",), ("last_hidden_state",))[0]
    kept = xs["attention_mask"][0] == 1
    assert np.abs(with_mask - without)[0, kept].max() > 1e-3
    table = hf.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
    saved = table.detach().clone()
    with torch.no_grad():
        table.zero_()
    try:
        unbiased = _hf(hf, xs, ("input_ids",), ("last_hidden_state",))[0]
    finally:
        with torch.no_grad():
            table.copy_(saved)
    assert np.abs(unbiased - without).max() > 1e-3
