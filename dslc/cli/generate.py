"""dslc generate: tokens from a causal spec on onnxruntime, with a KV cache (tools/generate.py)."""
from __future__ import annotations

import json
import math
import sys

from .arrays import read_weights, renames_need_weights
from .common import Usage, load, need, pick, seed_arg, weights_args


def _ids(text: str) -> list[int]:
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise Usage(f"--prompt-ids wants comma-separated token ids, got '{text}'") from None
    if not ids:
        raise Usage("--prompt-ids is empty: give at least one token id")
    return ids


def _prompt(args):
    """(the prompt's ids, a tokenizer or None) from --prompt-ids or --prompt with --tokenizer."""
    if (args.prompt_ids is None) == (args.prompt is None):
        raise Usage("give the prompt as --prompt-ids 1,2,3 or as --prompt TEXT with --tokenizer")
    if args.prompt_ids is not None:
        return _ids(args.prompt_ids), _tokenizer(args.tokenizer) if args.tokenizer else None
    if not args.tokenizer:
        raise Usage("--prompt TEXT needs --tokenizer tokenizer.json (a Hugging Face tokenizers file)")
    tok = _tokenizer(args.tokenizer)
    ids = tok.encode(args.prompt).ids
    if not ids:
        raise Usage(f"the tokenizer makes no tokens of --prompt {args.prompt!r}")
    return ids, tok


MAX_NEW_TOKENS = 100_000


def _tokenizer(path: str):
    """A tokenizers file read as dslc reads files (tools.genai.read_tokenizer: a regular file,
    bounded: a FIFO blocked and /dev/zero read without end in the library's own reader)."""
    need("tokenizers", "generate")
    from tokenizers import Tokenizer
    from ..tools.genai import read_tokenizer
    try:
        data = read_tokenizer(path)             # JSON, so UTF-8 text
    except (OSError, ValueError) as e:
        raise Usage(str(e)) from None
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as e:      # the library's message names what is wrong with the file
        raise Usage(f"cannot read the tokenizer {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


def run(args) -> int:
    from ..elab.kv_cache import CacheRefused
    from ..tools.generate import Generator
    from ..diagnostics import render, use_color
    if not 1 <= args.max_new_tokens <= MAX_NEW_TOKENS:
        raise Usage(f"--max-new-tokens must be from 1 to {MAX_NEW_TOKENS:,}, got {args.max_new_tokens}")
    if not (math.isfinite(args.temperature) and args.temperature >= 0) or \
            (args.top_k is not None and args.top_k < 1) or \
            (args.top_p is not None and not 0 < args.top_p <= 1):
        raise Usage("sampling wants --temperature >= 0, --top-k >= 1 and 0 < --top-p <= 1")
    ids, tok = _prompt(args)
    program = load(args.spec)
    if program.errors:
        return 1
    model = pick(program, args.model)
    need("onnxruntime", "onnx")
    renames_need_weights(args)
    weights = read_weights(args) if args.weights else None
    try:
        gen = Generator(model, weights=weights, seed=args.weights_seed)
    except CacheRefused as e:
        for d in e.diagnostics:
            print(render(d, program.sources, use_color(sys.stderr)), file=sys.stderr)
        return 1
    except ValueError as e:
        raise Usage(str(e)) from None
    vocab = gen.session.get_outputs()[gen.logits_at].shape[-1]
    if isinstance(vocab, int) and not all(0 <= i < vocab for i in ids):
        raise Usage(f"the prompt's ids must be in 0..{vocab - 1} (the model's vocabulary)")

    def stream(step, tokens):
        if not args.json:
            text = tok.decode([int(tokens[0])]) if tok else str(int(tokens[0]))
            print(text if tok else text + " ", end="", flush=True)

    try:
        out = gen.generate([ids], args.max_new_tokens, temperature=args.temperature,
                           top_k=args.top_k, top_p=args.top_p, seed=args.seed, eos=args.eos,
                           on_token=stream)
    except ValueError as e:
        raise Usage(str(e)) from None
    new = [int(t) for t in out.ids[0, len(ids):]]
    report = out.report()
    if args.json:
        doc = {"prompt_ids": ids, "new_ids": new, **report,
               "step_ms": [round(s * 1e3, 3) for s in out.step_s]}
        if tok:
            doc["text"] = tok.decode(new)
        print(json.dumps(doc, indent=2))
    else:
        print()
        per = report["decode_ms_per_token"]
        print(f"prefill {report['prefill_ms']:.2f} ms ({report['prompt_tokens']} tokens), "
              + (f"decode {per:.3f} ms/token, {report['tokens_per_s']:,} tokens/s" if per is not None
                 else "no decode step"), file=sys.stderr)
    return 0


def register(sub) -> None:
    g = sub.add_parser("generate", help="generate tokens from a causal spec (KV cache, onnxruntime)")
    g.add_argument("spec")
    g.add_argument("--model")
    g.add_argument("--prompt-ids", metavar="1,2,3")
    g.add_argument("--prompt", metavar="TEXT", help="with --tokenizer")
    g.add_argument("--tokenizer", metavar="tokenizer.json",
                   help="a Hugging Face tokenizers file: encodes --prompt, decodes the tokens")
    g.add_argument("--max-new-tokens", type=int, default=16)
    g.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy")
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--seed", type=seed_arg, default=0, help="the sampler's seed")
    g.add_argument("--eos", type=int, metavar="ID", help="stop once this token is generated")
    g.add_argument("--weights-seed", type=seed_arg, default=0,
                   help="without --weights: the seed the weights are drawn from")
    weights_args(g, "generate with these weights (as compile takes them)")
    g.add_argument("--json", action="store_true",
                   help="one JSON document: the ids, prefill and per-step times")
    g.set_defaults(fn=run)
