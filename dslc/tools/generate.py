"""Token generation on onnxruntime from any causal spec: the model elab.kv_cache derives,
compiled to ONNX once, then a prefill of the prompt and one step per new token, each step
feeding the cache the last one returned. Greedy by default; sampling with a temperature,
top-k and top-p (nucleus) from a seeded generator."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..elab.kv_cache import longest_sequence, with_kv_cache


@dataclass
class Generation:
    """The ids (prompt then new tokens, one row per sequence; shorter prompts left-padded), the
    prompts' lengths, the prefill's time and each decode step's (seconds)."""
    ids: np.ndarray
    new_tokens: int
    prefill_s: float
    step_s: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)

    def sequences(self) -> list[list[int]]:
        """Each prompt then its new tokens, without the padding."""
        width = self.ids.shape[1] - self.new_tokens
        return [[int(t) for t in row[width - n:]] for row, n in zip(self.ids, self.lengths)]

    def report(self) -> dict:
        decode = sum(self.step_s)
        return {"prompt_tokens": int(self.ids.shape[1] - self.new_tokens),
                "new_tokens": self.new_tokens, "prefill_ms": round(self.prefill_s * 1e3, 3),
                "decode_ms_per_token": round(decode / len(self.step_s) * 1e3, 3) if self.step_s else None,
                "tokens_per_s": round(len(self.step_s) / decode, 1) if decode > 0 else None}


def pick_token(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None,
               rng: np.random.Generator) -> np.ndarray:
    """The next token of each row of `logits` [B, V]: the argmax when temperature is 0, else a
    draw from softmax(logits / temperature) restricted to the top_k most likely tokens and to
    the smallest set whose probability reaches top_p."""
    if temperature == 0:
        return logits.argmax(-1)
    z = logits.astype(np.float64) / temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[:, -top_k][:, None]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, axis=-1)
        sorted_p = np.take_along_axis(p, order, -1)
        keep_sorted = np.cumsum(sorted_p, -1) - sorted_p < top_p     # the first always kept
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, -1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(-1, keepdims=True)
    return np.array([rng.choice(p.shape[-1], p=row) for row in p])


def logits_output(model, logits: str | None = None) -> int:
    """The index of the output to decode from: `logits` by name, else one named logits, else
    the first; ValueError naming the outputs when there is no such output."""
    outs = [p.name for p in model.outputs]
    name = logits or ("logits" if "logits" in outs else outs[0])
    if name not in outs:
        raise ValueError(f"model {model.name} has no output {name!r} (it has {', '.join(outs)})")
    return outs.index(name)


class Generator:
    """A causal model's cached ONNX graph in an onnxruntime session. `weights` by the spec's
    parameter names (else drawn from `seed`); `logits`: the output to decode from (default:
    one named logits, else the first)."""

    def __init__(self, model, weights: dict | None = None, seed: int = 0, provider: str = "cpu",
                 logits: str | None = None):
        from ..backends.onnx.ort import session
        self.logits_at = logits_output(model, logits)
        cached = with_kv_cache(model)
        self.longest = longest_sequence(model)
        self.ids = cached.inputs[0]
        self.past = [p for p in cached.inputs if p.name.startswith("past_key_values.")]
        if len(cached.inputs) != 2 + len(self.past):
            extra = [p.name for p in cached.inputs[1:]
                     if p not in self.past and p.name != "attention_mask"]
            raise ValueError(f"generation feeds token ids alone; model {model.name} also takes "
                             f"{', '.join(extra)}")
        self.n_out = len(model.outputs)
        proto = cached.to_onnx(weights=weights, seed=seed)
        self.session = session(proto.SerializeToString(), provider)
        self.dtype = {"i64": np.int64, "i32": np.int32}.get(self.ids.type.dtype)
        if self.dtype is None:
            raise ValueError(f"generation feeds token ids: the input {self.ids.name} is "
                             f"{self.ids.type}, not integer ids [N, T]")

    def _empty_cache(self, batch: int) -> list[np.ndarray]:
        from ..backends.onnx.builder import np_dtype
        return [np.zeros((batch, p.type.shape[1].value, 0, p.type.shape[3].value),
                         np_dtype(p.type.dtype)) for p in self.past]

    def generate(self, prompt, max_new_tokens: int, temperature: float = 0.0,
                 top_k: int | None = None, top_p: float | None = None, seed: int = 0,
                 eos: int | None = None, on_token=None, pad: int = 0) -> Generation:
        """Generate up to `max_new_tokens` after `prompt` (one sequence of ids, or several, of
        any lengths: the shorter ones are left-padded with `pad` and masked);
        `on_token(step, tokens)` is called with each step's tokens [B] as they come; all rows
        stop at `eos` once every row has produced it."""
        rows = [list(np.atleast_1d(r)) for r in (prompt if np.ndim(prompt[0]) else [prompt])]
        lengths = [len(r) for r in rows]
        if min(lengths) < 1:
            raise ValueError("a prompt needs at least one token")
        width = max(lengths)
        if self.longest is not None and width + max_new_tokens > self.longest:
            raise ValueError(f"{width} prompt tokens and {max_new_tokens} new ones need "
                             f"{width + max_new_tokens} positions; the model's position table "
                             f"has {self.longest}")
        ids = np.full((len(rows), width), pad, dtype=self.dtype)
        mask = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            ids[i, width - len(r):], mask[i, width - len(r):] = r, 1
        rng = np.random.default_rng(seed)
        cache, new, seq = self._empty_cache(len(rows)), ids, [ids]
        names = [self.ids.name, "attention_mask"] + [p.name for p in self.past]
        done = np.zeros(len(rows), bool)
        result = Generation(ids=ids, new_tokens=0, prefill_s=0.0, lengths=lengths)
        for step in range(max_new_tokens):
            start = time.perf_counter()
            outs = self.session.run(None, dict(zip(names, [new, mask, *cache])))
            token = pick_token(outs[self.logits_at][:, -1], temperature, top_k, top_p, rng)
            elapsed = time.perf_counter() - start
            if step == 0:
                result.prefill_s = elapsed
            else:
                result.step_s.append(elapsed)
            cache = outs[self.n_out:]
            new = token.astype(self.dtype)[:, None]
            mask = np.concatenate([mask, np.ones((len(rows), 1), np.int64)], axis=1)
            seq.append(new)
            result.new_tokens += 1
            if on_token is not None:
                on_token(step, new[:, 0])
            if eos is not None:
                done |= new[:, 0] == eos
                if done.all():
                    break
        result.ids = np.concatenate(seq, axis=1)
        return result
