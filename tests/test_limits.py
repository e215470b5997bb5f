"""The checker's bounds (dslc/limits.py): long chains are handled in linear work, deep nesting,
huge repeats and runaway layer counts are located E307s, and a sample of the spec fuzzer
(benchmarks/fuzz.py) finds no crash and no hang. benchmarks/fuzz.py runs 30,000 on demand."""
from __future__ import annotations

import importlib.util
import random
import sys

import pytest

import dslc
from dslc.diagnostics import render
from dslc.limits import MAX_LAYERS, MAX_NESTING, MAX_TOKENS
from specfiles import ROOT


def _chain(n: int, stage: str = "relu") -> str:
    return "model Chain {\n    input x: f32[N, 4]\n    output y = x" + f" -> {stage}" * n + "\n}\n"


def test_a_chain_of_the_most_layers_checks_without_recursion():
    program = dslc.check_text(_chain(MAX_LAYERS))
    assert not program.diagnostics
    model = program.models["Chain"]
    assert len(model.nodes) == MAX_LAYERS and model.nodes[-1].name == f"relu_{MAX_LAYERS}"


def test_one_layer_more_is_refused_at_that_layer():
    (d,) = dslc.check_text(_chain(MAX_LAYERS + 1), "c.dl").errors
    assert d.code == "E307" and f"more than {MAX_LAYERS:,} layers" in d.message
    line = _chain(MAX_LAYERS + 1).splitlines()[2]
    assert d.span.line == 3 and d.span.col == len(line) - len("relu") + 1     # the last stage


def test_a_file_of_too_many_tokens_is_refused_before_parsing(capsys):
    """Parsing is linear in tokens: a 1 MiB file of `-> relu` would take seconds before the
    layer limit could stop it. E307 at the first token past MAX_TOKENS, its excerpt a window
    of the 300,000-column line."""
    text = _chain(MAX_TOKENS)
    program = dslc.check_text(text, "t.dl")
    (d,) = program.diagnostics
    assert d.code == "E307" and f"more than {MAX_TOKENS:,} tokens" in d.message
    line = text.splitlines()[2]          # 12 tokens on the lines before (`model Chain {`, ...)
    assert d.span.line == 3 and len(line[:d.span.col - 1].split()) == MAX_TOKENS - 12
    shown = render(d, program.sources)
    assert len(shown) < 1000 and "... -> relu" in shown
    comments = "# " + "a b c " * MAX_TOKENS + "\n" + _chain(5)     # comments are not tokens
    assert not dslc.check_text(comments).diagnostics


def test_a_long_chain_lowers_to_both_backends():
    import numpy as np
    import onnxruntime as ort
    import torch
    model = dslc.check_text(_chain(3_000, "tanh")).models["Chain"]
    x = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)
    want = x.astype(np.float64)
    for _ in range(3_000):
        want = np.tanh(want)
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    assert np.allclose(got, want, atol=1e-5)
    with torch.no_grad():
        assert np.allclose(model.to_torch()(torch.from_numpy(x)).numpy(), want, atol=1e-5)


def _nested(depth: int) -> str:
    return ("model Deep {\n    input x: f32[N, 4]\n    output y = " + "relu(" * depth + "x"
            + ")" * depth + "\n}\n")


def test_nesting_up_to_the_limit_checks():
    program = dslc.check_text(_nested(MAX_NESTING - 3))     # model, output and call levels
    assert not program.diagnostics and len(program.models["Deep"].nodes) == MAX_NESTING - 3


@pytest.mark.parametrize("depth", [MAX_NESTING, 10_000])
def test_deeper_nesting_is_a_located_error(depth):
    program = dslc.check_text(_nested(depth), "deep.dl")
    (d,) = program.diagnostics
    assert d.code == "E307" and "nest deeper than" in d.message
    line = _nested(depth).splitlines()[2]
    assert d.span.line == 3 and line[d.span.col - 1:].startswith("relu(")     # a call, not `x`
    assert 80 * 5 < d.span.col < len("    output y = ") + 5 * MAX_NESTING


def test_parentheses_alone_are_not_nesting():
    text = "model P {\n    input x: f32[N, 4]\n    output y = " + "(" * 10_000 + "x" + ")" * 10_000 + "\n}\n"
    assert not dslc.check_text(text).diagnostics


def test_nested_repeats_stop_at_the_layer_limit():
    """At the repeat that would pass it, once its first copy is made (issue 23: not after
    MAX_LAYERS layers' work)."""
    text = ("block A(x: [N, C]) { return x -> relu * 5000 }\n"
            "block B(x: [N, C]) { return x -> A * 5000 }\n"
            "model M {\n    input x: f32[N, 4]\n    output y = x -> B\n}\n")
    errors = dslc.check_text(text, "r.dl").errors
    assert [(d.code, d.span.line) for d in errors] == [("E307", 2)]
    assert f"repeated 5,000 times, 5,000 layer(s) each, the model has more than {MAX_LAYERS:,} " \
           "layers" in errors[0].message
    assert [n for _, n in errors[0].notes] == ["in the block called here"]


def test_a_repeat_past_the_layer_limit_is_refused_after_its_first_copy():
    times = MAX_LAYERS // 6 + 1
    text = ("block Six(x: [N, C]) {\n    return x -> dense(C) -> relu -> dense(C) -> relu -> dense(C)"
            f" -> relu\n}}\nmodel M {{\n    input x: f32[N, 8]\n    output y = x -> Six * {times}\n}}\n")
    (d,) = dslc.check_text(text, "r.dl").errors
    assert (d.code, d.span.line) == ("E307", 6) and f"repeated {times:,} times, 6 layer(s)" in d.message


def test_recursion_notes_show_both_ends_of_the_chain():
    text = ("block F(x: [N, C]) { return x -> F }\n"
            "model M {\n    input x: f32[N, 4]\n    output y = x -> F\n}\n")
    (d,) = dslc.check_text(text, "f.dl").errors
    assert d.code == "E307" and "50 blocks deep" in d.message
    notes = [n for _, n in d.notes]
    assert len(notes) == 6 and "45 more block calls" in notes[3]
    assert d.notes[-1][0].line == 4          # the outermost call, in the model


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz", ROOT / "benchmarks" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz"] = module
    spec.loader.exec_module(module)
    return module


def test_fuzz_sample_finds_no_crash():
    """300 token mutations in-process (the script's own cases: deleted, duplicated and swapped
    tokens, numbers made 0, -1, 2**62, 10**30, 1e999, nan; names swapped)."""
    fuzz = _fuzz()
    rng = random.Random(11)
    corpus = fuzz.corpus()
    crashes = {}
    for _ in range(300):
        source, text = rng.choice(corpus)
        case = fuzz.mutate(text, rng)
        sig, _ = fuzz.run_case(case)
        if sig is not None:
            crashes.setdefault(sig, (source, case))
    assert not crashes, crashes


def test_fuzz_mutations_reach_the_huge_numbers():
    fuzz = _fuzz()
    rng = random.Random(0)
    text = "model M {\n    input x: f32[N, 4]\n    output y = x -> dense(8)\n}\n"
    seen = {fuzz.mutate(text, rng) for _ in range(400)}
    assert any("1e999" in s for s in seen) and any("4611686018427387904" in s for s in seen)
    assert any("dense" not in s for s in seen)           # a token deleted or swapped away


def test_a_block_recursing_twice_stops_at_the_first_depth_error(monkeypatch):
    """Each statement went on after the E307: a body with two recursive calls made 2**50 block
    calls (a hang the fuzzer found). The limit unwinds the whole model, the error once."""
    from dslc.elab.blocks import BlockMixin
    calls = []
    real = BlockMixin._apply_block
    monkeypatch.setattr(BlockMixin, "_apply_block", lambda self, *a: calls.append(1) or real(self, *a))
    text = ("block Forever(x: [N, C]) {\n    a = x -> Forever\n    b = x -> Forever\n"
            "    return a + b\n}\nmodel M {\n    input x: f32[N, 16]\n    output z = x -> Forever\n}\n")
    (d,) = dslc.check_text(text, "f.dl").diagnostics
    assert d.code == "E307" and (d.span.line, d.span.col) == (2, 14) and len(calls) == 51


def test_the_layer_limit_counts_the_files_models_together():
    """It bounds the work of one check: two models of 6,000 layers are 12,000 (a fuzzed file
    with two 8,000-layer CLIP towers took seconds); the second is refused at its repeat."""
    model = "model M{k} {{\n    input x: f32[N, 4]\n    output y = x -> relu * 6000\n}}\n"
    program = dslc.check_text(model.format(k=1) + model.format(k=2), "two.dl")
    (d,) = program.errors
    assert d.code == "E307" and d.span.line == 7 and "the file's earlier ones" in d.message
    assert list(program.models) == ["M1"]
