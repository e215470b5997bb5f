"""Hugging Face references for specs/hf/: a model built from a small config with random
weights, saved with save_pretrained (safetensors, as a checkpoint on the hub is), its tensors
read back by name and renamed onto the spec's parameter names by the rules in the spec's
`.rename` file, and both of dslc's backends compared with Hugging Face's outputs."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from support import run_ort, run_torch

HF_SPECS = Path(__file__).resolve().parent.parent / "specs" / "hf"


def checkpoint(hf_model, folder: Path) -> dict[str, np.ndarray]:
    """The model's tensors as save_pretrained writes them (model.safetensors), by HF's names."""
    from safetensors.numpy import load_file
    hf_model.save_pretrained(folder)
    return load_file(str(folder / "model.safetensors"))


def read_rules(path: Path) -> list[tuple[re.Pattern, str]]:
    """`REGEX -> REPLACEMENT` per line (# comments, blank lines skipped); an empty replacement
    drops the key."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, _, repl = (part.strip() for part in line.partition("->"))
            rules.append((re.compile(pattern), repl))
    return rules


def rename(state: dict, rules) -> dict:
    """Each key through the first rule whose pattern matches it whole; unmatched keys kept."""
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            match = pattern.fullmatch(key)
            if match:   # expand, not sub: `(.*)` would also match the empty tail after the key
                key = match.expand(repl) if repl else None
                break
        if key is not None:
            assert key not in out, f"two checkpoint tensors renamed to {key}"
            out[key] = np.asarray(value, np.float32)
    return out


def compare(model, weights: dict, xs: list[np.ndarray], want, rtol: float = 1e-5,
            atol: float = 1e-5) -> None:
    """dslc's torch module and its ONNX graph against Hugging Face's output `want` (or a list
    of outputs, the model's first ones in order)."""
    names = set(model.param_shapes()) | set(model.buffer_shapes())   # BatchNorm's statistics
    assert set(weights) == names, (sorted(names - set(weights)), sorted(set(weights) - names))
    wants = want if isinstance(want, (list, tuple)) else [want]
    for name, outs in (("torch", run_torch(model, weights, xs)), ("onnxruntime", run_ort(model, weights, xs)[0])):
        for i, w in enumerate(wants):
            np.testing.assert_allclose(outs[i], w, rtol=rtol, atol=atol, err_msg=f"{name}, output {i}")


def hf_output(hf_model, *args, **kwargs) -> np.ndarray:
    """The model's logits, or its last hidden state, in eval mode without gradients."""
    with torch.no_grad():
        out = hf_model.eval()(*[torch.from_numpy(a) for a in args], **kwargs)
    logits = getattr(out, "logits", None)
    return (logits if logits is not None else out.last_hidden_state).numpy()
