"""Grammar fuzzing: any text gives a Program with diagnostics, never a Python exception; every
diagnostic renders and points inside the text it blames; a mutant or a generated spec that
checks cleanly lowers to a checked ONNX graph and a torch module (no E401: what checks,
compiles). Generated specs come from benchmarks/specgen.py (well-formed text calling every
registered op with arguments of its fields' types), driven by hypothesis' random source so a
failure shrinks and replays."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dslc
from dslc.diagnostics import CODES, EXCERPT_WIDTH, render, source_lines, visible
from specfiles import invalid_specs, valid_specs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import specgen  # noqa: E402 - benchmarks/ is not a package
from strategies import STRATEGIES  # noqa: E402

CORPUS = [p.read_text() for p in valid_specs() + invalid_specs()]
PIECES = ["(", ")", "{", "}", "[", "]", ",", "->", "=", "*", "+", "x", "dense(", "0", "-1",
          "model", "block", "input", "output", "return", "if", "else", ":", "f32[", "\n", "#"]
# Mutants of the big specs (VGG-16, LLaMA-7B, ...) are checked but not lowered: building their
# weights would take the test's whole time budget.
LOWER_AT_MOST = 1_000_000


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 12)))
        text = text[:i] + draw(st.sampled_from(PIECES + [""])) + text[j:]
    return text


def _span_inside(span, sources, what):
    assert span is not None, f"{what} has no span"
    text = sources.texts.get(span.file)
    assert text is not None, f"{what}: its span names {span.file!r}, a file the sources lack"
    lines = source_lines(text) if text else []
    assert 1 <= span.line <= max(1, len(lines)), f"{what}: line {span.line} of {len(lines)}"
    line = lines[span.line - 1] if lines else ""
    assert 1 <= span.col <= len(line) + 1, f"{what}: column {span.col} of a {len(line)}-char line"
    assert span.line <= span.end_line <= max(1, len(lines)), f"{what}: ends at {span.end_line}"
    return line if lines else None


def _check_diagnostics(diagnostics, sources):
    for d in diagnostics:
        assert d.code in CODES and d.message, d
        line = _span_inside(d.span, sources, f"{d.code} {d.message!r}")
        for span, note in d.notes:
            if span is not None:
                _span_inside(span, sources, f"{d.code}'s note {note!r}")
        shown = render(d, sources)
        assert shown.startswith(visible(d.short()))
        if line is not None:      # the excerpt quotes the blamed line (a window of a long one)
            head = f"{d.span.line} | "
            quoted = next(q[len(head):] for q in shown.splitlines() if q.startswith(head))
            if len(line) <= EXCERPT_WIDTH:
                assert quoted == visible(line)
            else:
                inner = quoted.removeprefix("...").removesuffix("...")
                at = visible(line).find(inner, max(0, d.span.col - EXCERPT_WIDTH))
                assert len(inner) == EXCERPT_WIDTH and 0 <= at <= d.span.col - 1 < at + EXCERPT_WIDTH, \
                    (quoted, d.span)                                   # the span starts in it


def _lowers(model):
    """What checks, compiles: a model `check` accepts lowers to a checked ONNX graph and a
    torch module, never an E401 (a size the checker states is computed at run time)."""
    import onnx
    import torch
    weights = model.weights()
    proto = model.to_onnx(weights=weights)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.name for o in proto.graph.output] == [p.name for p in model.outputs]
    module = model.to_torch(weights=weights)
    assert isinstance(module, torch.nn.Module)
    assert sum(p.numel() for p in module.parameters()) == model.params


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_never_raise(text):
    program = dslc.check_text(text, "fuzz.dl")
    _check_diagnostics(program.diagnostics, program.sources)
    if not program.errors:
        for model in program.models.values():
            if model.params <= LOWER_AT_MOST:
                _lowers(model)


# derandomize: CI sees the same 300 specs every run (a new finding comes from fuzz.py, not from
# a red CI run nobody can replay)
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_generated_specs_never_raise(rng):
    program = dslc.check_text(specgen.generate(rng), "gen.dl")
    _check_diagnostics(program.diagnostics, program.sources)
    if not program.errors:
        for model in program.models.values():
            if model.params <= LOWER_AT_MOST:
                _lowers(model)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abcxyz_0123456789()[]{}<>=!+-*/%,.:#\n \"'", max_size=80))
def test_random_text_never_raises(text):
    program = dslc.check_text(text, "fuzz.dl")
    _check_diagnostics(program.diagnostics, program.sources)


# Issue 23's strategies (benchmarks/strategies.py: grammar derivations, splices, replacements
# that keep a spec parsing, numbers at the edges), 50 derandomized cases each (fuzz.py runs more).
NAMED = [(p.name, p.read_text()) for p in valid_specs() + invalid_specs()]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False))
def test_the_other_strategies_never_raise(strategy, rng):
    program = dslc.check_text(STRATEGIES[strategy](rng, NAMED), "fuzz.dl")
    _check_diagnostics(program.diagnostics, program.sources)
