"""Hugging Face references for specs/hf/: a model built from a small config with random
weights, saved with save_pretrained (safetensors, as a checkpoint on the hub is), its tensors
read back by name and renamed onto the spec's parameter names by the rules in the spec's
`.rename` file, and both of dslc's backends compared with Hugging Face's outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from support import run_ort, run_torch

HF_SPECS = Path(__file__).resolve().parent.parent / "specs" / "hf"


def randomise(hf_model, seed: int = 0, std: float = 0.1):
    """Every parameter moved off Hugging Face's initial values by N(0, std), so that biases
    (zeros at init) and norm weights (ones) carry distinct numbers a wrong name would show;
    the model is returned, in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in hf_model.parameters():
            p.add_(std * torch.randn(p.shape, generator=gen))
    return hf_model.eval()


def checkpoint(hf_model, folder: Path) -> dict[str, np.ndarray]:
    """The model's tensors as save_pretrained writes them (model.safetensors), by HF's names."""
    from safetensors.numpy import load_file
    hf_model.save_pretrained(folder)
    return load_file(str(folder / "model.safetensors"))


def same_parameters(model, hf_model, weights: dict) -> None:
    """The spec counts Hugging Face's num_parameters(), and the renamed checkpoint holds every
    parameter at the spec's shape."""
    assert model.params == hf_model.num_parameters()
    assert {k: v.shape for k, v in weights.items()} == {
        k: tuple(s) for k, s in model.param_shapes().items()}


def compare(model, weights: dict, xs: list[np.ndarray], want, rtol: float = 1e-5,
            atol: float = 1e-5) -> None:
    """dslc's torch module and its ONNX graph against Hugging Face's outputs: `want` is the
    first output's array, or a list of arrays for the first outputs in order."""
    names = set(model.param_shapes()) | set(model.buffer_shapes())   # BatchNorm's statistics
    assert set(weights) == names, (sorted(names - set(weights)), sorted(set(weights) - names))
    wants = want if isinstance(want, (list, tuple)) else [want]
    for name, got in (("torch", run_torch(model, weights, xs)), ("onnxruntime", run_ort(model, weights, xs)[0])):
        for port, g, w in zip(model.outputs, got, wants):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{name}: {port.name}")


def hf_output(hf_model, *args, fields: tuple[str, ...] = (), **kwargs):
    """The model's logits, or its last hidden state, in eval mode without gradients; with
    `fields`, the list of those fields of its output."""
    with torch.no_grad():
        out = hf_model.eval()(*[torch.from_numpy(a) for a in args], **kwargs)
    if fields:
        return [getattr(out, f).numpy() for f in fields]
    logits = getattr(out, "logits", None)
    return (logits if logits is not None else out.last_hidden_state).numpy()


def tiny_llama():
    """LlamaForCausalLM on test_kv_cache.LLAMA's config (vocab 64, width 32, 2 layers, 4 heads,
    2 KV heads), its weights drawn from N(0, 0.3): HF's N(0, 0.02) makes logits too flat for
    greedy decoding to be free of near-ties."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                         max_position_embeddings=128, tie_word_embeddings=False)
    hf = LlamaForCausalLM(config).eval()
    for p in hf.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return hf


def tiny_gpt2():
    """GPT2LMHeadModel on test_checkpoints.SMALL_GPT2's config (2 layers, width 64, 4 heads,
    vocab 100, 32 positions), its weights drawn from N(0, 0.2) (HF's N(0, 0.02) gives nearly
    flat logits)."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32)
    hf = GPT2LMHeadModel(config).eval()
    for p in hf.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return hf
