"""The hyperparameter language (issue 20, item 5): `//`, `%` and `/` on ints, `max`/`min`/`abs`
of numbers beside the reductions of the same names, and rank-generic ports (`x: [N, ...]`).
The reference values are Python's own arithmetic; the elementwise block is checked against
NumPy's formula in torch and onnxruntime."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import dslc
from dslc.syntax.fmt import format_text
from support import run_ort, run_torch

RNG = np.random.default_rng(20)


def _scalar(expr: str, params: str = ""):
    """The value of a hyperparameter expression, as it reaches an op (`x * (expr)`'s scalar)."""
    model = dslc.load(f"model M({params}) {{ input x: f32[N, 1]\n output y = x * ({expr}) }}").model()
    return model.nodes[0].op.scalar


def _errors(src: str) -> list:
    return dslc.check_text(src).errors


# (dslc expression, Python's value): `/` of ints is Python's `//` when it divides exactly,
# else Python's `/`; everything else is Python's operator as it stands.
@pytest.mark.parametrize("expr, want", [
    ("7 // 2", 7 // 2), ("-7 // 2", -7 // 2), ("7 // -2", 7 // -2), ("-7 // -2", -7 // -2),
    ("7 % 3", 7 % 3), ("-7 % 3", -7 % 3), ("7 % -3", 7 % -3), ("-7 % -3", -7 % -3),
    ("7.5 // 2", 7.5 // 2), ("-7.5 % 2", -7.5 % 2), ("2 ** -1", 2 ** -1),
    ("64 / 4", 64 // 4), ("-64 / 4", -64 // 4), ("64 / -4", 64 // -4), ("0 / 5", 0),
    ("1 / 64", 1 / 64), ("7 / 2", 7 / 2), ("-7 / 2", -7 / 2), ("6.0 / 2", 6.0 / 2),
    ("6 / 2.0", 6 / 2.0), ("(7 / 2) * 2", 7 / 2 * 2), ("10 ** 30 / 10 ** 28", 100),
    ("d / heads", 96 // 4), ("d // 5 + d % 5", 96 // 5 + 96 % 5),
    ("max(1, 16 // 32)", max(1, 16 // 32)), ("min(3, -2, 5)", min(3, -2, 5)),
    ("max(1 / 4, 0)", max(1 / 4, 0)), ("min(2, 2.5)", 2), ("abs(-7)", 7),
    ("abs(-7 / 2)", abs(-7 / 2)), ("abs(2 - 5.5)", abs(2 - 5.5)),
    ("max(d / heads, 8) // 3", max(96 // 4, 8) // 3), ("-(1 / 3)", -(1 / 3)),
])
def test_arithmetic_is_pythons(expr, want):
    got = _scalar(expr, "d: int = 96, heads: int = 4")
    assert got == want and type(got) is type(want), (expr, got, want)


def test_exact_int_division_fills_int_slots():
    """The issue's examples: `ConvLayer(out / 4)` and `repeat_interleave(heads / kv)`."""
    m = dslc.load("""
    block ConvLayer(x: [N, C, H, W], out: int) { return x -> conv2d(out, 1) }
    model M(out: int = 64, heads: int = 8, kv: int = 2) {
        input image: f32[N, 3, 8, 8]
        input keys: f32[N, 2, 5, 4]
        output y = image -> ConvLayer(out / 4) -> dense(8) * (out / 32)
        output k = keys -> repeat_interleave(heads / kv, axis=1) -> reshape(N, heads / kv * 2, 20)
    }""").model()
    assert [str(p.type) for p in m.outputs] == ["f32[N, 16, 8, 8]", "f32[N, 8, 20]"]
    assert sum(n.op.kind == "dense" for n in m.nodes) == 2          # repeated 64 / 32 times
    assert m.nodes[0].op.out_channels == 16 and type(m.nodes[0].op.out_channels) is int


def test_inexact_division_is_a_plain_float_where_a_float_is_wanted():
    m = dslc.load("""
    block Drop(x: [N, F], p: float) { return x -> dropout(p) }
    model M(width: int = 3) {
        input x: f32[N, 8]
        h = x -> dense(8, init=normal(std=1 / 64)) -> Drop(1 / width) -> dropout(2 / 3)
        output y = h -> dense(1, init={weight: [[1 / 8, 1, 2, 3, 4, 5, 6, 7]], bias: [-1 / 3]})
    }""").model()
    bias = m.nodes[-1].init["bias"]["value"]
    assert bias == [-1 / 3] and type(bias[0]) is float
    std = m.nodes[0].init["weight"]["std"]
    assert std == 0.015625 and type(std) is float
    ps = [n.op.p for n in m.nodes if n.op.kind == "dropout"]
    assert ps == [1 / 3, 2 / 3] and all(type(p) is float for p in ps)
    assert pickle.loads(pickle.dumps(m)).nodes[0].init == m.nodes[0].init
    assert copy.deepcopy(m).nodes[1].op.p == 1 / 3


@pytest.mark.parametrize("src, div, use", [
    ("block B(x: [N, F], k: int) { return x -> dense(k) }\n"
     "model M { input x: f32[N, 8]\n output y = x -> B(64 / 3) }", "64 / 3", "parameter `k`"),
    ("model M { input x: f32[N, 8]\n output y = x -> dense(64 / 3) }", "64 / 3",
     "dense: `out_features`"),
    ("model M { input x: f32[N, 8]\n output y = x -> dense(8) * (64 / 3) }", "64 / 3",
     "a repeat count"),
    ("model M { input x: f32[N, 8]\n output y = x -> reshape(N, 2, 8 / 3) }", "8 / 3",
     "reshape: `target`"),
    ("model M(h: int = 64 / 3) { input x: f32[N, h]\n output y = x -> dense(h) }", "64 / 3",
     "parameter `h`"),
    ("model M { input x: f32[N, 64 / 3]\n output y = x -> relu }", "64 / 3", "a dimension"),
    ("block B(x: [N, 8 / 3]) { return x }\nmodel M { input x: f32[N, 8]\n output y = x -> B }",
     "8 / 3", "a size"),
    ("model M(d: int = 64) { input x: f32[N, 8]\n q = d / 3\n output y = x -> dense(q * 3) }",
     "d / 3", "dense: `out_features`"),
])
def test_inexact_division_where_an_int_is_needed_offers_floor_division(src, div, use):
    errs = _errors(src)
    assert [e.code for e in errs] == ["E205"], errs
    e = errs[0]
    assert e.message.startswith(f"{use} must be an int, but `") and "does not divide exactly" in e.message
    line = src.splitlines()[e.span.line - 1]
    assert line[e.span.col - 1:e.span.end_col - 1] == div       # at the division itself
    num, den = (int(s) for s in e.message.split("`")[-2].split(" / "))
    assert f"`{num} // {den}` is {num // den}" in e.help and "did you mean `//`" in e.help


@pytest.mark.parametrize("expr", ["8 // 0", "8 % 0", "8 / 0", "8.5 % 0", "8.0 // 0.0", "0.0 ** -1"])
def test_division_by_zero_is_located(expr):
    errs = _errors(f"model M {{ input x: f32[N, 8]\n output y = x * ({expr}) }}")
    assert [(e.code, e.message, e.span.line, e.span.col) for e in errs] == \
        [("E205", "division by zero", 2, 18)]


def test_sizes_keep_their_semantics():
    """A symbolic size divides exactly or not at all (E305), as before; known sizes are ints."""
    m = dslc.load("""
    model M { input x: f32[N, D, 6] where D % 4 == 0
              output y = x -> reshape(N, 4, D / 4, 6 / 2, 2) }""").model()
    assert str(m.outputs[0].type) == "f32[N, 4, D/4, 3, 2]"
    errs = _errors("model M { input x: f32[N, D]\n output y = x -> reshape(N, 4, D / 4) }")
    assert [e.code for e in errs] == ["E305"]


def test_max_min_abs_of_numbers_beside_the_reductions():
    m = dslc.load("""
    block SE(x: [N, C, H, W]) { return x -> conv2d(max(1, C // 4), 1) -> conv2d(min(C, 4), 1) }
    model M {
        input x: f32[N, 16, 5, 3]
        output a = x -> SE
        output b = x -> max(1)
        output c = max(x, 2)
        output d = x -> min(axis=3)
        output e = x -> abs
        output f = abs(x) -> dense(abs(-2))
        output g = (x -> SE(name=tiny)) -> conv2d(max(1, 2 // 4), 1)
    }""").model()
    shapes = {p.name: str(p.type) for p in m.outputs}
    assert shapes == {"a": "f32[N, 4, 5, 3]", "b": "f32[N, 5, 3]", "c": "f32[N, 16, 3]",
                      "d": "f32[N, 16, 5]", "e": "f32[N, 16, 5, 3]", "f": "f32[N, 16, 5, 2]",
                      "g": "f32[N, 1, 5, 3]"}
    assert [n.op.kind for n in m.nodes if n.op.kind in ("max", "min", "abs")] == \
        ["max", "max", "min", "abs", "abs"]


def test_numbers_piped_into_are_not_a_layer():
    errs = _errors("model M { input x: f32[N, 2, 3]\n output y = x -> max(1, 2) }")
    assert [(e.code, e.span.col) for e in errs] == [("E209", 18)]
    assert "`max(axis=(1, 2))`" in errs[0].help
    m = dslc.load("model M { input x: f32[N, 2, 3]\n output y = x -> max(axis=(1, 2)) }").model()
    assert str(m.outputs[0].type) == "f32[N]"


def test_a_name_the_spec_binds_keeps_its_meaning():
    """`max` bound to a user block (or a parameter) is the user's, whatever its arguments."""
    m = dslc.load("""
    block Scale(x: [N, F], a: int, b: int) { return x * a + b }
    block Uses(x: [N, F], max: int = 3) { return x -> dense(max) }
    model M {
        input x: f32[N, 8]
        max = Scale
        output y = x -> max(2, 3)
        output z = x -> Uses
    }""").model()
    assert [n.op.kind for n in m.nodes] == ["mul", "add", "dense"]
    assert (m.nodes[0].op.scalar, m.nodes[1].op.scalar) == (2, 3)
    assert str(m.outputs[1].type) == "f32[N, 3]"
    # a block cannot take an op's name, so a user block never hides the function either way
    errs = _errors("block max(x: [N, F]) { return x }\nmodel M { input x: f32[N, 8]\n"
                   " output y = x -> relu }")
    assert [(e.code, e.message) for e in errs] == [("E206", "`max` is the name of a built-in op")]


SWISH = """
block Swish(x: [N, ...]) { return x * sigmoid(x) }
block Channels(x: [..., C], k: int) { return x -> dense(C * k) }
block Ends(x: [N, ..., C]) { return x -> dense(N + C) }
model M {
    input a: f32[N, 3]
    input b: f32[N, 2, 3]
    input c: f32[N, 2, 3, 4]
    input d: f32[N, 1, 2, 3, 2]
    input e: f32[5]
    output ya = a -> Swish
    output yb = b -> Swish
    output yc = c -> Swish
    output yd = d -> Swish
    output ye = e -> Swish
    output w = c -> Channels(2)
    output v = a -> Ends
}
"""


def test_an_elementwise_block_written_once_applies_at_every_rank():
    m = dslc.load(SWISH.replace("input a: f32[N, 3]", "input a: f32[2, 3]")
                  .replace("[N, 2", "[2, 2").replace("[N, 1", "[2, 1")).model()
    shapes = [(2, 3), (2, 2, 3), (2, 2, 3, 4), (2, 1, 2, 3, 2), (5,)]
    assert [p.type.shape for p in m.outputs[:5]] == [tuple(s) for s in shapes]
    assert str(m.outputs[5].type) == "f32[2, 2, 3, 8]" and str(m.outputs[6].type) == "f32[2, 5]"
    xs = [RNG.normal(size=s).astype(np.float32) for s in shapes]
    from support import random_weights
    w = random_weights(m)
    for got in (run_torch(m, w, xs), run_ort(m, w, xs)[0]):
        for x, y in zip(xs, got[:5]):
            x64 = x.astype(np.float64)
            np.testing.assert_allclose(y, x64 / (1 + np.exp(-x64)), rtol=1e-6, atol=1e-6)


def test_ellipsis_patterns_check_the_dims_they_name():
    block = "block B(x: [N, ..., 4], y: [_, ...]) { return x }\n"
    ok = _errors(block + "model M { input x: f32[N, 7, 4]\n output y = B(x, y=x) }")
    assert ok == []
    errs = _errors(block + "model M { input x: f32[N, 7, 5]\n output y = B(x, y=x) }")
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("E302", 1, 21)]
    assert "expects size 4 where the input has 5" in errs[0].message
    errs = _errors(block + "model M { input x: f32[4]\n output y = x -> B(y=x) }")
    assert [e.code for e in errs] == ["E301"] and "rank 2 or more" in errs[0].message


def test_ellipsis_outside_a_pattern_is_a_syntax_error_with_help():
    errs = _errors("model M { input x: f32[N, 8]\n output y = x -> reshape(N, ...) }")
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("E101", 2, 29)]
    assert "port pattern" in errs[0].help


def test_a_size_hidden_by_the_ellipsis_names_it():
    errs = _errors("block B(x: [N, ...]) { return x -> dense(C) }\n"
                   "model M { input x: f32[N, 8]\n output y = x -> B }")
    assert [(e.code, e.message, e.span.col) for e in errs] == [("E201", "unknown name `C`", 42)]
    assert errs[0].notes[0][0].col == 16 and "`...`" in errs[0].notes[0][1]
    assert "`x: [N, ..., C]`" in errs[0].help


def test_fmt_keeps_the_new_syntax():
    src = ("block S(x:[N,...,  C,], k: int=1) { return x*sigmoid(x) }\n"
           "model M(o:int=64) { input x: f32[N, 8]\n output y = x -> dense(max(1,o//3)+o%5+o/4) -> S }\n")
    text, diags = format_text(src)
    assert diags == [] and "block S(x: [N, ..., C], k: int = 1) {" in text
    assert "dense(max(1, o // 3) + o % 5 + o / 4)" in text
    assert format_text(text)[0] == text
    assert dslc.load(text).model().outputs[0].type == dslc.load(src).model().outputs[0].type
