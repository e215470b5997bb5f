"""Grammar fuzzing: any text gives a Program with diagnostics, never a Python exception."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dslc
from specfiles import invalid_specs, valid_specs

CORPUS = [p.read_text() for p in valid_specs() + invalid_specs()]
PIECES = ["(", ")", "{", "}", "[", "]", ",", "->", "=", "*", "+", "x", "dense(", "0", "-1",
          "model", "block", "input", "output", "return", "if", "else", ":", "f32[", "\n", "#"]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 12)))
        text = text[:i] + draw(st.sampled_from(PIECES + [""])) + text[j:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_never_raise(text):
    program = dslc.check_text(text, "fuzz.dl")
    for d in program.diagnostics:
        assert d.code and d.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abcxyz_0123456789()[]{}<>=!+-*/%,.:#\n \"'", max_size=80))
def test_random_text_never_raises(text):
    dslc.check_text(text, "fuzz.dl")
