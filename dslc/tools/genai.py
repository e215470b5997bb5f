"""`dslc compile SPEC --target genai -o DIR`: a folder onnxruntime-genai runs as it is. The
spec's KV-cache graph (passes/kv_cache.py) with genai's input and output names (input_ids,
past_key_values.%d.key/value -> logits, present.%d.key/value), model.onnx (external data
beside it when the weights exceed what one protobuf holds), genai_config.json, and the
tokenizer files when given.

The config declares `"type": "llama"`: genai picks its model class by that name, and "llama"
is its plain decoder-only class, which feeds exactly the inputs the config names and the graph
has (token ids, the attention mask and the cache; no position ids: dslc's graph computes
positions from the cache's length, and rotary embedding and ALiBi depend on differences of
positions only, which left padding does not change). Nothing LLaMA-specific is assumed: the graph carries the whole
architecture. `past_present_share_buffer` is false: each step's present cache is a new tensor
P + T long (the standard-op graph), not a preallocated buffer of the context's length."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..elab.kv_cache import longest_sequence, with_kv_cache
from ..files import read_regular

ONE_PROTO = 2 ** 31 - 2 ** 26       # below protobuf's 2 GiB, with room for the graph


def _rename(proto, old: str, new: str) -> None:
    for vi in (*proto.graph.input, *proto.graph.output):
        if vi.name == old:
            vi.name = new
    for node in proto.graph.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]


def genai_config(model, cached, context_length: int, bos: int, eos: int, pad: int) -> dict:
    """genai_config.json for the cached model (`model`: the spec's, for its widths)."""
    attn = [n for n in cached.nodes if n.kind == "attention"]
    op = attn[0].op
    e, d = op.dims(*attn[0].in_types)[:2]
    vocab = cached.outputs[0].type.shape[-1].value
    return {
        "model": {
            "type": "llama", "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad,
            "context_length": context_length, "vocab_size": vocab,
            "decoder": {
                "filename": "model.onnx", "session_options": {"log_id": "dslc", "provider_options": []},
                "head_size": d, "hidden_size": e, "num_attention_heads": op.heads,
                "num_key_value_heads": op.kv_heads or op.heads, "num_hidden_layers": len(attn),
                "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask",
                           "past_key_names": "past_key_values.%d.key",
                           "past_value_names": "past_key_values.%d.value"},
                "outputs": {"logits": "logits", "present_key_names": "present.%d.key",
                            "present_value_names": "present.%d.value"},
            },
        },
        "search": {"do_sample": False, "max_length": context_length, "min_length": 0,
                   "num_beams": 1, "num_return_sequences": 1, "past_present_share_buffer": False,
                   "temperature": 1.0, "top_k": 1, "top_p": 1.0, "repetition_penalty": 1.0,
                   "length_penalty": 1.0, "early_stopping": True, "no_repeat_ngram_size": 0,
                   "diversity_penalty": 0.0},
    }


MAX_TOKENIZER_BYTES = 1 << 28       # 256 MiB; the largest tokenizer.json files are ~20 MB


def read_tokenizer(path) -> bytes:
    """A tokenizers file's bytes: a regular file, bounded, and a JSON object with a `model`
    (what `tokenizers` writes). Unreadable (an OSError) or ValueError, in one line."""
    data = read_regular(path, MAX_TOKENIZER_BYTES)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict) or "model" not in doc:
        raise ValueError(f"--tokenizer {path}: not a tokenizers file (a JSON object with a "
                         "`model`, as Tokenizer.save writes)")
    return data


def write_genai(model, out: Path, weights: dict | None = None, seed: int = 0,
                tokenizer: Path | None = None, context_length: int | None = None, bos: int = 0,
                eos: int = 0, pad: int | None = None, logits: str | None = None) -> dict:
    """Write the folder (created if need be); returns its config. `context_length`: the
    longest sequence genai generates (default 2048, or the position table's rows if fewer)."""
    import onnx
    from .generate import logits_output
    # the logits alone: genai reads the named outputs only
    model = model.model_copy(update={"outputs": (model.outputs[logits_output(model, logits)],)})
    cached = with_kv_cache(model)
    longest = longest_sequence(model)
    if context_length is None:        # genai's own default, within a position table
        context_length = min(2048, longest or 2048)
    if context_length < 1:
        raise ValueError(f"--context-length must be at least 1, got {context_length}")
    if longest is not None and context_length > longest:
        raise ValueError(f"--context-length {context_length} is longer than the model's position "
                         f"table ({longest} rows): give --context-length {longest} or less")
    ids = cached.inputs[0]
    if ids.type.dtype not in ("i64", "i32") or ids.type.rank != 2:
        raise ValueError(f"onnxruntime-genai feeds token ids [batch, sequence]: the input "
                         f"{ids.name} is {ids.type}")
    proto = cached.to_onnx(weights=weights, seed=seed)
    _rename(proto, proto.graph.input[0].name, "input_ids")
    _rename(proto, proto.graph.output[0].name, "logits")
    config = genai_config(model, cached, context_length, bos, eos, eos if pad is None else pad)
    vocab = config["model"]["vocab_size"]
    for flag, token in (("--bos", bos), ("--eos", eos), ("--pad", pad)):
        if token is not None and not 0 <= token < vocab:
            raise ValueError(f"{flag} {token} is not a token of the model's {vocab}-token "
                             f"vocabulary (0 to {vocab - 1})")
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: not a folder (--target genai writes a folder)")
    out.mkdir(parents=True, exist_ok=True)
    # written beside, then moved in: a failure leaves the folder as it was
    with tempfile.TemporaryDirectory(dir=out, prefix=".dslc-") as tmp:
        big = proto.ByteSize() > ONE_PROTO
        onnx.save_model(proto, str(Path(tmp) / "model.onnx"), save_as_external_data=big,
                        location="model.onnx.data", all_tensors_to_one_file=True)
        (Path(tmp) / "genai_config.json").write_text(json.dumps(config, indent=4) + "\n")
        if tokenizer is not None:           # read as dslc reads files: regular, bounded
            (Path(tmp) / "tokenizer.json").write_bytes(read_tokenizer(tokenizer))
            beside = Path(tokenizer).with_name("tokenizer_config.json")
            if beside.is_file():
                (Path(tmp) / "tokenizer_config.json").write_bytes(
                    read_regular(beside, MAX_TOKENIZER_BYTES))
        for f in Path(tmp).iterdir():
            os.replace(f, out / f.name)
    return config
