"""`dslc compile --target genai`: folders that onnxruntime-genai runs unchanged, generating the
tokens Hugging Face's `generate` and `dslc generate` produce — for a LLaMA config with its
checkpoint loaded by name, and for architectures no genai builder knows (ALiBi with a
parallel residual; the course's character GPT)."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime_genai as og
import pytest
import torch

import dslc
from dslc.tools.generate import Generator
from hf_support import checkpoint, tiny_gpt2, tiny_llama
from specfiles import SPECS
from support import cli, random_weights
from test_kv_cache import LLAMA

RULES = """# Hugging Face's LlamaForCausalLM -> specs' names
model\\.layers\\.(\\d+)\\.self_attn\\.o_proj -> layers.\\1.self_attn.out_proj
model\\.layers\\.(\\d+)\\.mlp\\.(\\w+) -> layers.\\1.\\2
model\\.(.*) -> \\1
"""

# ALiBi attention and the MLP side by side off one norm (GPT-J/NeoX's parallel residual):
# no genai builder has this architecture
ALIBI = """
block Parallel(x: [N, T, D], heads: int = 4) {
    h = x -> layernorm(name=ln)
    a = h -> attention(heads, causal=true, alibi=true, projections=separate, name=attn)
    return x + a + (h -> dense(4 * D, name=fc_in) -> gelu -> dense(D, name=fc_out))
}
model AlibiLM(vocab: int = 50, d: int = 32) {
    input ids: i64[N, T]
    x = ids -> embedding(vocab, d, name=wte) -> Parallel(name=h) * 2 -> layernorm(name=ln_f)
    output logits = x -> dense(vocab, bias=false, name=lm_head)
}
"""


def _genai_tokens(folder, prompt, new: int) -> list[int]:
    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt) + new, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(np.array([prompt], dtype=np.int32))
    while not gen.is_done():
        gen.generate_next_token()
    return [int(t) for t in gen.get_sequence(0)]


def test_llama_folder_equals_hugging_face(tmp_path, capsys):
    hf = tiny_llama()
    checkpoint(hf, tmp_path / "hf")
    (tmp_path / "llama.dl").write_text(LLAMA)
    (tmp_path / "llama.rename").write_text(RULES)
    code, out, err = cli(capsys, "compile", tmp_path / "llama.dl", "--target", "genai", "-o",
                         tmp_path / "g", "--weights", tmp_path / "hf", "--rename-file",
                         tmp_path / "llama.rename", "--eos", "63", "--context-length", "64")
    assert code == 0, err
    config = json.loads((tmp_path / "g" / "genai_config.json").read_text())["model"]
    assert (config["type"], config["eos_token_id"], config["context_length"]) == ("llama", 63, 64)
    assert config["decoder"]["num_key_value_heads"] == 2 and config["decoder"]["head_size"] == 8
    prompt = [5, 17, 42, 3, 9, 60, 1]
    with torch.no_grad():
        want = hf.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                           eos_token_id=63, pad_token_id=0)[0].tolist()
    got = _genai_tokens(tmp_path / "g", prompt, 20)
    assert got == want and len(got) == 27


@pytest.mark.parametrize("spec,name,eos", [(ALIBI, "AlibiLM", 49), ("char_gpt.dl", "CharGPT", 29)],
                         ids=["alibi_parallel", "course_char_gpt"])
def test_architectures_no_builder_knows(tmp_path, capsys, spec, name, eos):
    """ALiBi with a parallel residual, and the course's character GPT (learned positions read
    at the mask's position ids): genai generates what `dslc generate` does."""
    text = spec if spec.endswith("}\n") else (SPECS / "transformer" / spec).read_text()
    model = dslc.load(text).models[name]
    w = random_weights(model)
    np.savez(tmp_path / "w.npz", **w)
    (tmp_path / "m.dl").write_text(text)
    code, _, err = cli(capsys, "compile", tmp_path / "m.dl", "--target", "genai", "-o",
                       tmp_path / "g", "--weights", tmp_path / "w.npz", "--eos", str(eos),
                       "--context-length", "32")
    assert code == 0, err
    prompt = [3, 1, 4, 1, 5]
    want = Generator(model, weights=w).generate([prompt], 16, eos=eos).ids[0].tolist()
    assert _genai_tokens(tmp_path / "g", prompt, 16) == want


@pytest.mark.parametrize("argv,fragment", [
    ([], "-o DIR"),
    (["-o", "g", "--kv-cache"], "--kv-cache does not apply"),
    (["-o", "g", "--tokenizer", "missing.json"], "No such file or directory"),
    (["-o", "g", "--context-length", "33"], "position table (32 rows)"),
])
def test_genai_usage(tmp_path, capsys, argv, fragment, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llama.dl").write_text(LLAMA if "position" not in fragment else
                                       (SPECS / "transformer" / "char_gpt.dl").read_text())
    code, _, err = cli(capsys, "compile", "llama.dl", "--target", "genai", *argv)
    assert code == 2 and fragment in err


def test_gpt2_folder_equals_hugging_face(tmp_path, capsys):
    """GPT-2 (learned positions, a tied head, Conv1D weights transposed by the rules) from
    Hugging Face's checkpoint: genai generates HF's greedy tokens."""
    import shutil
    from test_checkpoints import GPT2_RULES, SMALL_GPT2
    hf = tiny_gpt2()
    hf.save_pretrained(tmp_path / "hf")
    shutil.copy(SPECS / "transformer" / "gpt2.dl", tmp_path / "gpt2.dl")
    (tmp_path / "small.dl").write_text(SMALL_GPT2)
    (tmp_path / "gpt2.rename").write_text(GPT2_RULES)
    code, _, err = cli(capsys, "compile", tmp_path / "small.dl", "--target", "genai", "-o",
                       tmp_path / "g", "--weights", tmp_path / "hf", "--rename-file",
                       tmp_path / "gpt2.rename", "--eos", "99")
    assert code == 0, err
    assert json.loads((tmp_path / "g" / "genai_config.json").read_text())["model"]["context_length"] == 32
    prompt = [5, 17, 42, 3, 9, 60]
    with torch.no_grad():
        want = hf.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False,
                           eos_token_id=99, pad_token_id=0)[0].tolist()
    assert _genai_tokens(tmp_path / "g", prompt, 16) == want
