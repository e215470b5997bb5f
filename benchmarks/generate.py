"""Generation speed: dslc's genai folder against onnxruntime-genai's own model builder's folder
for the same Hugging Face weights, both run by onnxruntime-genai, and `dslc generate`'s loop
(onnxruntime directly); prefill time of the prompt and decode ms per new token (medians of
--runs), plus the KV cache's size by sequence length.

The model: LLaMA with vocab 256, width 64, 2 layers, 4 heads, 2 KV heads (123,712 parameters;
random weights; a tokenizer.json made offline), as issue 21 measured the builder on.

Run: python benchmarks/generate.py [--prompt 128] [--new 128] [--runs 5]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SPEC = """
block Layer(x: [N, T, D], heads: int = 4, kv: int = 2, ff: int = 128) {
    a = x -> rmsnorm(eps=1e-5, name=input_layernorm)
    x = x + (a -> attention(heads, kv_heads=kv, causal=true, rotary=true, projections=separate,
                            bias=false, name=self_attn))
    m = x -> rmsnorm(eps=1e-5, name=post_attention_layernorm)
    g = m -> dense(ff, bias=false, name=gate_proj) -> silu
    return x + ((g * (m -> dense(ff, bias=false, name=up_proj))) -> dense(D, bias=false, name=down_proj))
}
model Llama(vocab: int = 256, d: int = 64) {
    input ids: i64[N, T]
    x = ids -> embedding(vocab, d, name=embed_tokens) -> Layer(name=layers) * 2 -> rmsnorm(eps=1e-5, name=norm)
    output logits = x -> dense(vocab, bias=false, name=lm_head)
}
"""
RULES = """model\\.layers\\.(\\d+)\\.self_attn\\.o_proj -> layers.\\1.self_attn.out_proj
model\\.layers\\.(\\d+)\\.mlp\\.(\\w+) -> layers.\\1.\\2
model\\.(.*) -> \\1
"""


def hf_folder(where: Path, context: int) -> Path:
    import json
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                         max_position_embeddings=context, tie_word_embeddings=False,
                         bos_token_id=1, eos_token_id=2)
    hf = LlamaForCausalLM(config)
    hf.save_pretrained(where)
    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(256)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(where / "tokenizer.json"))
    (where / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "w1", "eos_token": "w2",
         "unk_token": "w0"}))
    return where


def genai_times(folder: Path, prompt: list[int], new: int, runs: int) -> tuple[float, float]:
    """(prefill ms, decode ms per token) under onnxruntime-genai, medians over runs."""
    import onnxruntime_genai as og
    model = og.Model(str(folder))
    pre, dec = [], []
    for _ in range(runs + 1):                 # the first run warms up
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(prompt) + new, do_sample=False, min_length=len(prompt) + new)
        gen = og.Generator(model, params)
        start = time.perf_counter()
        gen.append_tokens(np.array([prompt], dtype=np.int32))
        gen.generate_next_token()
        mid = time.perf_counter()
        steps = 0
        while not gen.is_done():
            gen.generate_next_token()
            steps += 1
        end = time.perf_counter()
        pre.append((mid - start) * 1e3)
        dec.append((end - mid) * 1e3 / max(steps, 1))
    return statistics.median(pre[1:]), statistics.median(dec[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import dslc
    from dslc.passes.checkpoints import read_weights
    from dslc.tools.generate import Generator
    context = args.prompt + args.new
    prompt = list(np.random.default_rng(0).integers(3, 256, args.prompt))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hf = hf_folder(tmp / "hf", context)
        subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf),
                        "-o", str(tmp / "builder"), "-p", "fp32", "-e", "cpu"], check=True,
                       capture_output=True)
        (tmp / "llama.dl").write_text(SPEC)
        (tmp / "llama.rename").write_text(RULES)
        subprocess.run([sys.executable, "-m", "dslc", "compile", str(tmp / "llama.dl"), "--target",
                        "genai", "-o", str(tmp / "dslc"), "--weights", str(hf), "--rename-file",
                        str(tmp / "llama.rename"), "--tokenizer", str(hf / "tokenizer.json"),
                        "--bos", "1", "--eos", "2", "--context-length", str(context)],
                       check=True, capture_output=True)
        rows = [("genai builder's folder, onnxruntime-genai", *genai_times(tmp / "builder", prompt, args.new, args.runs)),
                ("dslc's genai folder, onnxruntime-genai", *genai_times(tmp / "dslc", prompt, args.new, args.runs))]
        model = dslc.load(SPEC).models["Llama"]
        gen = Generator(model, weights=read_weights(str(hf), rename=RULES))
        pre, dec = [], []
        for _ in range(args.runs + 1):
            out = gen.generate([prompt], args.new)
            pre.append(out.prefill_s * 1e3)
            dec.append(statistics.mean(out.step_s) * 1e3)
        rows.append(("dslc generate (onnxruntime)", statistics.median(pre[1:]), statistics.median(dec[1:])))
    print(f"LLaMA vocab 256, d 64, 2 layers, 4 heads, 2 KV heads; prompt {args.prompt}, "
          f"{args.new} new tokens, fp32 CPU, medians of {args.runs}\n")
    print("| runner | prefill ms | decode ms/token |\n|---|---:|---:|")
    for name, p, d in rows:
        print(f"| {name} | {p:.2f} | {d:.3f} |")
    per_token = 2 * 2 * 2 * 16 * 4           # key and value, layers, KV heads, head size, f32
    print("\n| sequence length | KV cache per sequence |\n|---:|---:|")
    for n in (128, 256, 1024, 4096):
        print(f"| {n} | {per_token * n / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
