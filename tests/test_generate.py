"""Generation with a KV cache on onnxruntime (dslc/tools/generate.py, `dslc generate`):
token-identical greedy decoding against Hugging Face's `generate` on a LLaMA config with its
checkpoint loaded by name, against a full-recompute loop in torch, and the sampler's rules."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dslc
from dslc.tools.generate import Generator, pick_token
from hf_support import HF_SPECS, checkpoint, randomise, tiny_gpt2, tiny_llama
from specfiles import SPECS
from support import cli, random_weights
from test_kv_cache import LLAMA

# Hugging Face's LlamaForCausalLM keys -> the spec's names
LLAMA_RULES = [r"model\.layers\.(\d+)\.self_attn\.o_proj -> layers.\1.self_attn.out_proj",
               r"model\.layers\.(\d+)\.mlp\.(\w+) -> layers.\1.\2",
               r"model\.(.*) -> \1"]


@pytest.fixture(scope="module")
def llama():
    return dslc.load(LLAMA).models["Llama"]


def test_greedy_equals_hugging_face_generate(llama, tmp_path):
    hf = tiny_llama()
    weights = dslc.rename_weights(checkpoint(hf, tmp_path), LLAMA_RULES)
    assert hf.num_parameters() == llama.params
    prompt = np.array([[5, 17, 42, 3, 9, 60, 1]])
    with torch.no_grad():
        want = hf.generate(torch.from_numpy(prompt), max_new_tokens=24, do_sample=False,
                           pad_token_id=0)[0].numpy()
    got = Generator(llama, weights=weights).generate(prompt, 24)
    assert got.ids[0].tolist() == want.tolist()
    assert len(set(want[7:].tolist())) > 3          # not one token repeated


def test_batch_greedy_equals_full_recompute_in_torch(llama):
    w = random_weights(llama)
    prompt = np.random.default_rng(1).integers(0, 64, (2, 5))
    got = Generator(llama, weights=w).generate(prompt, 10)
    module = llama.to_torch(weights=w).eval()
    seq = torch.from_numpy(prompt)
    with torch.no_grad():
        for _ in range(10):
            seq = torch.cat([seq, module(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert got.ids.tolist() == seq.tolist()
    report = got.report()
    assert report["prompt_tokens"] == 5 and report["new_tokens"] == 10 and len(got.step_s) == 9


def test_sampler_rules():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    assert pick_token(logits, 0.0, None, None, rng).tolist() == [0]
    draws = [int(pick_token(logits, 1.0, None, 0.7, rng)[0]) for _ in range(300)]
    assert set(draws) == {0, 1}                         # 0.5 < 0.7 <= 0.5 + 0.3
    draws = [int(pick_token(logits, 1.0, 3, None, rng)[0]) for _ in range(300)]
    assert set(draws) == {0, 1, 2} and 0.4 < draws.count(0) / 300 < 0.65   # 0.5 / 0.95
    assert {int(pick_token(logits, 1.0, 1, None, rng)[0]) for _ in range(20)} == {0}
    cold = [int(pick_token(logits, 0.05, None, None, rng)[0]) for _ in range(50)]
    assert cold.count(0) == 50


def test_sampling_is_seeded(llama):
    gen = Generator(llama, weights=random_weights(llama))
    a, b, c = (gen.generate([[1, 2]], 12, temperature=1.5, seed=s).ids for s in (7, 7, 8))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def _tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    vocab = {f"w{i}": i for i in range(64)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.save(str(path))


def test_cli_generate(tmp_path, capsys):
    spec = tmp_path / "llama.dl"
    spec.write_text(LLAMA)
    code, out, err = cli(capsys, "generate", spec, "--prompt-ids", "1,2,3", "--max-new-tokens", "6")
    assert code == 0 and len(out.split()) == 6 and "prefill" in err and "ms/token" in err
    code, out, _ = cli(capsys, "generate", spec, "--prompt-ids", "1,2,3", "--max-new-tokens", "6", "--json")
    doc = json.loads(out)
    assert doc["prompt_ids"] == [1, 2, 3] and len(doc["new_ids"]) == 6 and len(doc["step_ms"]) == 5
    assert doc["new_ids"] == Generator(dslc.load(LLAMA).models["Llama"]).generate([[1, 2, 3]], 6).ids[0, 3:].tolist()
    _tokenizer(tmp_path / "tokenizer.json")
    code, out, _ = cli(capsys, "generate", spec, "--prompt", "w1 w2 w3", "--tokenizer",
                       tmp_path / "tokenizer.json", "--max-new-tokens", "6", "--json")
    assert code == 0 and json.loads(out)["new_ids"] == doc["new_ids"]
    assert json.loads(out)["text"] == " ".join(f"w{i}" for i in doc["new_ids"])


@pytest.mark.parametrize("argv,fragment", [
    (["--prompt-ids", ""], "at least one token"),
    (["--prompt-ids", "1,x"], "comma-separated"),
    (["--prompt-ids", "1,99"], "0..63"),
    (["--prompt", "hi"], "--tokenizer"),
    (["--prompt-ids", "1", "--max-new-tokens", "0"], "from 1 to 100,000, got 0"),
    (["--prompt-ids", "1", "--max-new-tokens", "99999999999"], "from 1 to 100,000"),
    (["--prompt-ids", "1", "--temperature", "nan"], "--temperature >= 0"),
    (["--prompt", "hi", "--tokenizer", "/dev/zero"], "a character device, not a regular file"),
    (["--prompt", "hi", "--tokenizer", "SPEC"], "not a tokenizers file"),
    (["--prompt-ids", "1", "--top-p", "1.5"], "top-p"),
    (["--prompt-ids", "1,2", "--max-new-tokens", "40"], "position table has 32"),
])
def test_cli_generate_usage(tmp_path, capsys, argv, fragment):
    spec = tmp_path / "llama.dl"      # the character GPT's table: 32 positions
    spec.write_text(LLAMA if "position" not in fragment else
                    (SPECS / "transformer" / "char_gpt.dl").read_text())
    code, _, err = cli(capsys, "generate", spec, *[str(spec) if a == "SPEC" else a for a in argv])
    assert code == 2 and fragment in err and "Traceback" not in err


def test_cli_generate_refuses_a_model_a_cache_cannot_serve(tmp_path, capsys):
    spec = tmp_path / "enc.dl"
    spec.write_text("model M {\n    input ids: i64[N, T]\n"
                    "    output logits = ids -> embedding(10, 8) -> attention(2) -> dense(10)\n}\n")
    code, _, err = cli(capsys, "generate", spec, "--prompt-ids", "1,2")
    assert code == 1 and "enc.dl:3:" in err and "not causal" in err


def test_left_padded_batch_equals_hugging_face(llama, tmp_path):
    """Prompts of 7 and 3 tokens in one batch (left-padded, masked) generate Hugging Face's
    tokens for the same padded batch and attention mask."""
    hf = tiny_llama()
    weights = dslc.rename_weights(checkpoint(hf, tmp_path), LLAMA_RULES)
    prompts = [[5, 17, 42, 3, 9, 60, 1], [33, 8, 21]]
    got = Generator(llama, weights=weights).generate(prompts, 12)
    ids = torch.tensor([prompts[0], [0] * 4 + prompts[1]])
    mask = torch.tensor([[1] * 7, [0] * 4 + [1] * 3])
    with torch.no_grad():
        want = hf.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert got.ids.tolist() == want.tolist()
    assert got.sequences()[1] == want[1, 4:].tolist()


def test_gpt2_learned_positions_equal_hugging_face(tmp_path):
    """GPT-2 (learned positions, read at the mask's position ids under the cache): a batch of a
    6- and a 2-token prompt, left-padded, generates Hugging Face's tokens."""
    import shutil
    from test_checkpoints import GPT2_RULES, SMALL_GPT2
    hf = tiny_gpt2()
    shutil.copy(SPECS / "transformer" / "gpt2.dl", tmp_path / "gpt2.dl")
    (tmp_path / "small.dl").write_text(SMALL_GPT2)
    model = dslc.load(tmp_path / "small.dl").models["SmallGPT2"]
    hf.save_pretrained(tmp_path / "hf")
    weights = dslc.read_weights(tmp_path / "hf", rename=GPT2_RULES)
    prompts = [[5, 17, 42, 3, 9, 60], [33, 8]]
    got = Generator(model, weights=weights).generate(prompts, 10)
    ids = torch.tensor([prompts[0], [0] * 4 + prompts[1]])
    mask = torch.tensor([[1] * 6, [0] * 4 + [1] * 2])
    with torch.no_grad():
        want = hf.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0)
    assert got.ids.tolist() == want.tolist()


def test_mistral_sliding_window_shorter_than_the_generation_equals_hugging_face(tmp_path):
    """specs/hf/mistral.dl (a window of 4 keys) with Hugging Face's checkpoint by name: 16 new
    tokens after 5, far past the window, are HF's greedy tokens."""
    from test_hf_text import _mistral
    torch.manual_seed(0)
    hf = randomise(_mistral(), std=0.3)
    model = dslc.load(HF_SPECS / "mistral.dl").models["Mistral"]
    weights = dslc.rename_weights(checkpoint(hf, tmp_path), HF_SPECS / "mistral.rename")
    prompt = [[5, 17, 42, 3, 9]]
    with torch.no_grad():
        want = hf.generate(torch.tensor(prompt), max_new_tokens=16, do_sample=False, pad_token_id=0)
    got = Generator(model, weights=weights).generate(prompt, 16)
    assert got.ids.tolist() == want.tolist()
    assert len(set(want[0, 5:].tolist())) > 3
