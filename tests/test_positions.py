"""The position ops (dslc/ops/positions.py): arange, positions, positional (offset, whisper,
positions=), relative_bias, window_bias, roll, window_partition and window_merge. Each is
checked in torch, torch-src and onnxruntime against an oracle outside dslc: Hugging Face
transformers' own code with dslc's weights loaded (BART's learned positions, Whisper's
sinusoids(), T5Attention.compute_bias, Swin's window_partition / window_reverse and
SwinRelativePositionBias), the left-padding rule of HF's generation code, torch.roll or
NumPy, at two values of each symbolic size. Their errors are located diagnostics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from support import make_inputs, random_weights, run_ort, run_torch, run_torch_src

BACKENDS = (("torch", run_torch), ("torch-src", run_torch_src),
            ("onnxruntime", lambda model, weights, xs: run_ort(model, weights, xs)[0]))


def _model(text: str):
    program = dslc.check_text(text)
    assert not program.errors, program.errors
    return program.models["M"]


def _agree(model, xs, want, weights, atol=1e-6):
    """Every backend's outputs equal `want` (integers exactly), in the IR's dtypes."""
    for backend, run in BACKENDS:
        got = run(model, weights, xs)
        assert len(got) == len(want)
        for port, g, w in zip(model.outputs, got, want):
            w = np.asarray(w)
            assert g.shape == w.shape, f"{backend} {port.name}: {g.shape} vs {w.shape}"
            assert str(g.dtype) == {"i64": "int64", "i32": "int32", "f32": "float32",
                                    "f64": "float64"}[port.type.dtype], (backend, port.name, g.dtype)
            if np.issubdtype(w.dtype, np.integer):
                np.testing.assert_array_equal(g, w, err_msg=f"{backend} {port.name}")
            else:
                np.testing.assert_allclose(g.astype(np.float64), w, rtol=1e-6, atol=atol,
                                           err_msg=f"{backend} {port.name}")


def _w(weights, name):
    return torch.from_numpy(weights[name])


# ---- arange ----

RANGES = _model("""model M {
    input ids: i64[N, T]
    output up = arange(T)
    output shifted = arange(2, T + 2)
    output down = arange(T - 1, -1, -1)
    output evens = arange(0, T, 2, dtype=f32)
    output odd_steps = arange(T, 3 * T + 1, 3, dtype=i32)
    output fixed = arange(1, 10, 3)
    output fixed_float = arange(4, dtype=f64)
}""")


@pytest.mark.parametrize("t", [1, 2, 7])
def test_arange_is_torch_arange_at_each_size(t):
    xs = make_inputs(RANGES, {"N": 2, "T": t})
    want = [torch.arange(t), torch.arange(2, t + 2), torch.arange(t - 1, -1, -1),
            torch.arange(0, t, 2, dtype=torch.float32), torch.arange(t, 3 * t + 1, 3, dtype=torch.int32),
            torch.arange(1, 10, 3), torch.arange(4, dtype=torch.float64)]
    _agree(RANGES, xs, [w.numpy() for w in want], {})
    assert [str(p.type) for p in RANGES.outputs[:5]] == \
        ["i64[T]", "i64[T]", "i64[T]", "f32[(T + 1) // 2]", "i32[(2*T) // 3 + 1]"]


# ---- positions ----

def _hf_mask_positions(mask, t):
    """HF's generation code (GenerationMixin.prepare_inputs_for_generation) for a left-padded
    batch, the last t columns."""
    position_ids = mask.long().cumsum(-1) - 1
    position_ids.masked_fill_(mask == 0, 1)
    return position_ids[:, -t:]


POSITIONS = _model("""model M {
    input ids: i64[N, T]
    input x: f32[N, T, 3]
    input past: i64[N]
    input cached: i64[]
    input mask: i64[N, T]
    input longer: bool[N, S]
    output plain = ids -> positions
    output offset = x -> positions(offset=2)
    output per_row = ids -> positions(past=past)
    output shared = ids -> positions(past=cached, offset=1)
    output padded = ids -> positions(mask=mask)
    output after_cache = ids -> positions(mask=longer, offset=3)
}""")


@pytest.mark.parametrize("env", [{"N": 2, "T": 3, "S": 5}, {"N": 3, "T": 6, "S": 9}])
def test_positions_are_hfs_position_ids(env):
    n, t = env["N"], env["T"]
    rng = np.random.default_rng(t)
    ids = rng.integers(0, 50, (n, t))
    x = rng.standard_normal((n, t, 3)).astype(np.float32)
    past, cached = rng.integers(0, 20, n), np.asarray(rng.integers(0, 20))
    # left padding: row r has r padding tokens first
    mask = (np.arange(t)[None, :] >= np.arange(n)[:, None]).astype(np.int64)
    longer = np.arange(env["S"])[None, :] >= 2 * np.arange(n)[:, None]
    arange = torch.arange(t)
    want = [arange.expand(n, t), arange.expand(n, t) + 2,
            torch.stack([torch.arange(p, p + t) for p in past.tolist()]),
            torch.arange(int(cached), int(cached) + t).expand(n, t) + 1,
            _hf_mask_positions(torch.from_numpy(mask), t),
            _hf_mask_positions(torch.from_numpy(longer), t) + 3]
    _agree(POSITIONS, [ids, x, past, cached, mask, longer], [w.numpy() for w in want], {})


# ---- positional: BART's offset, Whisper's table, rows by position ids ----

BART = _model("""model M {
    input ids: i64[N, T] where T <= 10
    input x: f32[N, T, 8]
    input cached: i64[]
    output fresh = x -> positional(12, offset=2, name=embed_positions)
    output cont = x -> positional(12, offset=2, positions=ids -> positions(past=cached), tie=embed_positions)
}""")


@pytest.mark.parametrize("t, cache", [(3, 0), (5, 4)])
def test_offset_positions_are_barts_learned_embedding(t, cache):
    from transformers.models.bart.modeling_bart import BartLearnedPositionalEmbedding
    hf = BartLearnedPositionalEmbedding(10, 8)          # 10 positions + BART's offset of 2 rows
    weights = random_weights(BART)
    hf.weight.data = _w(weights, "embed_positions.weight")
    rng = np.random.default_rng(t)
    ids, x = rng.integers(0, 50, (2, t)), rng.standard_normal((2, t, 8)).astype(np.float32)
    with torch.no_grad():
        want = [x + hf(torch.from_numpy(ids)).numpy(),
                x + hf(torch.from_numpy(ids), cache_length=cache).numpy()]
    _agree(BART, [ids, x, np.asarray(cache)], want, weights)


TABLES = _model("""model M {
    input x: f32[N, T, 12] where T <= 16
    input ids: i64[1, T]
    output table = x -> positional(24, encoding=whisper)
    output whisper_from = x -> positional(24, encoding=whisper, offset=5)
    output picked = x -> positional(24, encoding=whisper, positions=ids, offset=1)
    output vaswani_from = x -> positional(24, encoding=sinusoidal, offset=3)
    output learned_picked = x -> positional(24, positions=ids, name=wpe)
}""")


@pytest.mark.parametrize("t", [4, 16])
def test_position_tables_are_whispers_and_vaswanis(t):
    """Whisper's sinusoids() (sin then cos, HF's function in float32) and Vaswani's
    interleaved table, from row `offset` or at rows offset + ids; a learned table at ids is
    nn.Embedding's lookup."""
    from transformers.models.whisper.modeling_whisper import sinusoids
    weights = random_weights(TABLES)
    rng = np.random.default_rng(t)
    x = rng.standard_normal((2, t, 12)).astype(np.float32)
    ids = rng.permutation(23)[None, :t]             # any order, offset 1 stays in the table
    whisper = sinusoids(24, 12).numpy().astype(np.float64)
    pos = np.arange(24)[:, None]
    vaswani = np.zeros((24, 12))
    vaswani[:, 0::2] = np.sin(pos / 10000 ** (np.arange(0, 12, 2) / 12))
    vaswani[:, 1::2] = np.cos(pos / 10000 ** (np.arange(0, 12, 2) / 12))
    emb = torch.nn.Embedding(24, 12)
    emb.weight.data = _w(weights, "wpe.weight")
    with torch.no_grad():
        learned = emb(torch.from_numpy(ids)).numpy()
    want = [x + whisper[:t], x + whisper[5:5 + t], x + whisper[ids + 1], x + vaswani[3:3 + t],
            x + learned]
    _agree(TABLES, [x, ids], want, weights)


# ---- relative_bias: T5 ----

T5 = _model("""model M {
    input q: f32[N, T, 4]
    input k: f32[N, S, 4]
    output encoder = q -> relative_bias(3, buckets=8, max_distance=5, name=enc)
    output decoder = (q, k) -> relative_bias(2, buckets=6, max_distance=4, bidirectional=false, name=dec)
    output default = (q, k) -> relative_bias(4, name=relative_attention_bias)
}""")


def _t5_bias(weight, heads, buckets, max_distance, decoder, tq, tk):
    """HF's T5Attention.compute_bias with dslc's table, the queries the last tq of tk."""
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5Attention
    config = T5Config(d_model=16, d_kv=4, num_heads=heads, relative_attention_num_buckets=buckets,
                      relative_attention_max_distance=max_distance, is_decoder=decoder)
    attention = T5Attention(config, has_relative_attention_bias=True)
    attention.relative_attention_bias.weight.data = torch.from_numpy(weight)
    with torch.no_grad():
        return attention.compute_bias(tq, tk, past_seen_tokens=tk - tq).numpy()


@pytest.mark.parametrize("tq, tk", [(3, 5), (9, 300)])
def test_relative_bias_is_t5s_compute_bias(tq, tk):
    """Both directions past max_distance (9 > 5, 300 > 128), the log buckets between, and
    queries shorter than keys (a decoder after a cache)."""
    weights = random_weights(T5)
    rng = np.random.default_rng(tk)
    q, k = rng.standard_normal((2, tq, 4)).astype(np.float32), rng.standard_normal((2, tk, 4)).astype(np.float32)
    want = [_t5_bias(weights["enc.weight"], 3, 8, 5, False, tq, tq),
            _t5_bias(weights["dec.weight"], 2, 6, 4, True, tq, tk),
            _t5_bias(weights["relative_attention_bias.weight"], 4, 32, 128, False, tq, tk)]
    _agree(T5, [q, k], want, weights)
    assert T5.param_shapes()["relative_attention_bias.weight"] == (32, 4)


# ---- window_bias: Swin ----

@pytest.mark.parametrize("window, heads", [(7, 3), ((2, 3), 2), ((1, 4), 1), ((3, 1), 1)])
def test_window_bias_is_swins_relative_position_bias(window, heads):
    """One head and windows one token high or wide are valid edges (a mutation survivor:
    `heads < 1` made `heads <= 1`)."""
    from transformers.models.swin.modeling_swin import SwinRelativePositionBias
    size = f"({window[0]}, {window[1]})" if isinstance(window, tuple) else str(window)
    model = _model(f"model M {{\n input x: f32[N, 2]\n output y = x\n"
                   f" output b = window_bias({heads}, {size}, name=bias)\n}}")
    hw = window if isinstance(window, tuple) else (window, window)
    hf = SwinRelativePositionBias(heads, hw)
    weights = random_weights(model)
    hf.relative_position_bias_table.data = _w(weights, "bias.relative_position_bias_table")
    x = np.ones((2, 2), np.float32)
    with torch.no_grad():
        _agree(model, [x], [x, hf()[0].numpy()], weights)


# ---- roll ----

ROLLS = _model("""model M {
    input x: f32[N, T, 5]
    output one = x -> roll(1, axis=1)
    output back = x -> roll(-9, axis=1)
    output two = x -> roll((2, -1), axis=(1, -1))
    output same_axis = x -> roll((3, 4), axis=(2, 2))
    output flat = x -> roll(5)
    output flat_back = x -> roll(-13)
}""")


@pytest.mark.parametrize("t", [3, 7])
def test_roll_is_torch_roll(t):
    x = torch.randn(2, t, 5)
    want = [torch.roll(x, 1, 1), torch.roll(x, -9, 1), torch.roll(x, (2, -1), (1, -1)),
            torch.roll(x, (3, 4), (2, 2)), torch.roll(x, 5), torch.roll(x, -13)]
    _agree(ROLLS, [x.numpy()], [w.numpy() for w in want], {})


def test_roll_keeps_dtypes_and_integer_inputs():
    model = _model("model M { input ids: i64[N, T]\n output y = ids -> roll(-1, axis=1) }")
    ids = np.arange(12).reshape(2, 6)
    _agree(model, [ids], [np.roll(ids, -1, axis=1)], {})


# ---- window_partition / window_merge: Swin ----

WINDOWS = _model("""model M {
    input x: f32[N, H, W, 3] where H % 4 == 0, W % 4 == 0
    windows = x -> roll((-2, -2), axis=(1, 2)) -> window_partition(4)
    output parts = windows
    output merged = windows -> window_merge(4, H, W) -> roll((2, 2), axis=(1, 2))
    output mixed = windows -> roll(1, axis=1) -> window_merge(4, H, W)
}""")


@pytest.mark.parametrize("env", [{"N": 2, "H": 4, "W": 8}, {"N": 1, "H": 12, "W": 8}])
def test_windows_are_swins_partition_and_reverse(env):
    """HF's window_partition and window_reverse around a cyclic shift (a shifted-window block):
    merging undoes the partition; tokens moved within windows land where HF puts them."""
    from transformers.models.swin.modeling_swin import window_partition, window_reverse
    n, h, w = env["N"], env["H"], env["W"]
    x = torch.randn(n, h, w, 3)
    parts = window_partition(torch.roll(x, (-2, -2), (1, 2)), 4).reshape(-1, 16, 3)
    mixed = window_reverse(torch.roll(parts, 1, 1).reshape(-1, 4, 4, 3), 4, h, w)
    _agree(WINDOWS, [x.numpy()], [parts.numpy(), x.numpy(), mixed.numpy()], {})
    assert [str(p.type) for p in WINDOWS.outputs] == \
        ["f32[H*N*W/16, 16, 3]", "f32[N, H, W, 3]", "f32[N, H, W, 3]"]


# ---- the model's floating dtype ----

def test_biases_take_the_models_floating_dtype():
    model = _model("""model M {
        input x: f64[N, T, 4]
        output t5 = x -> relative_bias(2, name=rel)
        output swin = window_bias(2, 2, name=win)
    }""")
    assert [p.type.dtype for p in model.outputs] == ["f64", "f64"]
    weights = random_weights(model)
    x = np.zeros((1, 3, 4))
    want = [_t5_bias(weights["rel.weight"], 2, 32, 128, False, 3, 3),
            weights["win.relative_position_bias_table"][model.nodes[1].op.relative_index()]
            .transpose(2, 0, 1)]
    _agree(model, [x], want, weights)


# ---- errors ----

@pytest.mark.parametrize("decl, call, code, fragment", [
    ("x: f32[N, T, 4]", "arange(0, T, 0)", "E205", "step must be a nonzero integer"),
    ("x: f32[N, T, 4]", "arange()", "E204", "arange takes end"),
    ("x: f32[N, T, 4]", "arange(1, 2, 3, 4)", "E207", "got 4 argument(s)"),
    ("x: f32[N]", "x -> positions", "E301", "at least 2 axes"),
    ("x: f32[N, T, 4]", "x -> positions(past=x)", "E306", "past= needs an integer tensor"),
    ("x: f32[N, T, 4]", "x -> positions(past=x -> cast(i64))", "E301", "one length or one per row"),
    ("x: f32[N, 5, 4]", "x -> positions(mask=x -> slice(0, 1, axis=2) -> reshape(N, 5) -> cast(i64) "
                        "-> slice(0, 2, axis=1))", "E303", "shorter than the sequence"),
    ("x: f32[N, T, 4]", "(x, x) -> positions", "E208", "positions takes one sequence"),
    ("x: f32[2, T, 4]", "x -> positions(past=x -> slice(0, 1, axis=2) -> reshape(2 * T) -> cast(i64))",
     "E302", "rows"),
    ("x: f32[N, T, 4]", "x -> positional(8, positions=x -> slice(0, 1, axis=2) -> reshape(N, T) "
                        "-> cast(i64) -> slice(1, T, axis=1))", "E302", "do not index the sequence"),
    ("x: f32[N, T, 4]", "x -> positional(0)", "E205", "max_len >= 1"),
    ("x: f32[N, T, 4]", "x -> relative_bias(2, buckets=3)", "E205", "buckets >= 4"),
    ("x: f32[N, T, 4]", "x -> relative_bias(2, buckets=1, bidirectional=false)", "E205", "buckets >= 2"),
    ("x: f32[N, T, 4]", "window_bias(2, 0)", "E205", "a window >= 1"),
    ("x: f32[N, T, 4]", "x -> roll((1, 2))", "E205", "the flattened roll takes one shift"),
    ("x: f32[N, T, 4]", "x -> roll(1, axis=3)", "E205", "axis 3 is out of range"),
    ("x: f32[N, T, 4]", "x -> window_partition(2)", "E301", "[N, H, W, C]"),
    ("x: f32[N, 8, 6, 4]", "x -> window_partition(4)", "E305", "the width 6 is not a multiple"),
    ("x: f32[N, 8, 8, 4]", "x -> window_partition(0)", "E205", "the window must be >= 1"),
    ("x: f32[N, 8, 8, 4]", "x -> window_partition(4) -> window_merge(2, 8, 8)", "E302",
     "16 tokens per window"),
])
def test_errors_are_located(decl, call, code, fragment):
    text = f"model M {{\n    input {decl}\n    output y = {call}\n}}"
    errors = dslc.check_text(text).errors
    assert len(errors) == 1, errors
    (e,) = errors
    assert e.code == code and fragment in e.message, e
    assert e.span is not None and e.span.line == 3, e
