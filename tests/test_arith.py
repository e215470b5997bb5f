"""Tensor arithmetic, comparisons, logic and `where` (dslc/ops/arith.py): values against NumPy in
both backends, Python's precedence, the dtype rules, and located errors."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from support import parity, random_weights, run_ort, run_torch

RNG = np.random.default_rng(7)


def _both(src: str, *xs):
    """(torch outputs, onnxruntime outputs) of the spec's only model on the inputs xs."""
    model = dslc.load(src).model()
    w = random_weights(model)
    return model, run_torch(model, w, list(xs)), run_ort(model, w, list(xs))[0]


def _check(got_t, got_o, want, atol=1e-5):
    for t, o, w in zip(got_t, got_o, want):
        assert t.dtype == o.dtype and t.shape == o.shape == np.shape(w), (t.shape, o.shape)
        np.testing.assert_allclose(t.astype(np.float64), w, rtol=1e-5, atol=atol)
        np.testing.assert_allclose(o.astype(np.float64), w, rtol=1e-5, atol=atol)


A = RNG.uniform(-8, 8, (2, 1, 4)).astype(np.float32)
B = RNG.uniform(-8, 8, (3, 1)).astype(np.float32)
POS = RNG.uniform(0.1, 4, (2, 1, 4)).astype(np.float32)


@pytest.mark.parametrize("expr, fn", [
    ("a + b", lambda a, b: a + b), ("a - b", lambda a, b: a - b), ("a * b", lambda a, b: a * b),
    ("a / b", lambda a, b: a / b), ("0.5 * a", lambda a, b: 0.5 * a),
    ("1 - a", lambda a, b: 1 - a), ("a - 1", lambda a, b: a - 1), ("a / 2", lambda a, b: a / 2),
    ("2 / a", lambda a, b: 2 / a), ("-a", lambda a, b: -a), ("a ** 2", lambda a, b: a ** 2),
    ("-a ** 2", lambda a, b: -(a ** 2)), ("2 ** b", lambda a, b: 2.0 ** b),
    ("a + b * a - b / 4", lambda a, b: a + b * a - b / 4),
    ("(a + b) * (a - b)", lambda a, b: (a + b) * (a - b)),
    ("a - b - a", lambda a, b: (a - b) - a), ("a / b / 2", lambda a, b: (a / b) / 2),
])
def test_arithmetic_against_numpy(expr, fn):
    src = f"model M {{ input a: f32[2, 1, 4]\n input b: f32[3, 1]\n output y = {expr} }}"
    _, t, o = _both(src, A, B)
    _check(t, o, [fn(A.astype(np.float64), B.astype(np.float64))], atol=1e-3)


def test_fractional_power_of_a_positive_tensor():
    _, t, o = _both("model M { input a: f32[2, 1, 4]\n output y = a ** 0.5 + pow(a, a) }", POS)
    _check(t, o, [np.sqrt(POS.astype(np.float64)) + POS.astype(np.float64) ** POS])


@pytest.mark.parametrize("expr, fn", [
    ("a > b", np.greater), ("a >= b", np.greater_equal), ("a < b", np.less),
    ("a <= b", np.less_equal), ("a == b", np.equal), ("a != b", np.not_equal),
    ("a > 0", lambda a, b: a > 0), ("0 < a", lambda a, b: 0 < a), ("a == 1", lambda a, b: a == 1),
])
def test_comparisons_with_ties(expr, fn):
    a = np.array([[0, 1, 2, -1], [1, 1, 0, 3]], np.float32)   # equal entries reach == and <=
    b = np.array([[0, 2, 2, -1], [0, 1, 1, 3]], np.float32)
    src = f"model M {{ input a: f32[2, 4]\n input b: f32[2, 4]\n output y = {expr} }}"
    _, t, o = _both(src, a, b)
    assert t[0].dtype == np.bool_ and o[0].dtype == np.bool_
    np.testing.assert_array_equal(t[0], fn(a, b))
    np.testing.assert_array_equal(o[0], fn(a, b))


def test_logic_and_where():
    a = RNG.uniform(-2, 2, (3, 4)).astype(np.float32)
    a[0, :2] = 0.0
    src = """model M { input a: f32[3, 4]
        m = a > 0 and not (a > 1) or a == 0
        output y = where(m, a * 10, -a)
        output z = where(a >= 0, a, 0.25)
    }"""
    _, t, o = _both(src, a)
    m = ((a > 0) & ~(a > 1)) | (a == 0)
    _check(t, o, [np.where(m, a * 10, -a), np.where(a >= 0, a, 0.25)])


def test_integer_tensors_keep_their_dtype():
    x = np.array([[-7, -1, 0, 3, 9]], np.int64)
    src = "model M { input x: i64[1, 5]\n output y = x * 3 - 1\n output z = -x + x ** 2\n output c = x > 2 }"
    _, t, o = _both(src, x)
    for got in (t, o):
        assert got[0].dtype == np.int64 and got[1].dtype == np.int64
        np.testing.assert_array_equal(got[0], x * 3 - 1)
        np.testing.assert_array_equal(got[1], -x + x ** 2)
        np.testing.assert_array_equal(got[2], x > 2)


def test_scalar_ops_describe_themselves():
    model = dslc.load("model M { input x: f32[N, 3]\n output y = 1 - 0.5 * x }").model()
    assert [n.op.describe() for n in model.nodes] == ["0.5 * x", "1 - x"]
    assert [n.kind for n in model.nodes] == ["mul", "sub"]
    assert model.nodes[1].op.reverse and model.nodes[0].op.reverse


def test_parity_at_two_batch_sizes():
    model = dslc.load("""model M { input x: f32[N, T, 4]
        input y: f32[N, 1, 4]
        output z = where(x > y, (x - y) / 2, x * y + 1) - 1 / (1 + x ** 2) }""").model()
    for env in ({"N": 2, "T": 3}, {"N": 3, "T": 5}):
        assert parity(model, env) < 1e-5


@pytest.mark.parametrize("body, code, line, fragment", [
    ("output y = a + m", "E306", 3, "bool tensor"),
    ("output y = a * i", "E306", 3, "one dtype"),
    ("output y = i * 0.5", "E306", 3, "does not promote"),
    ("output y = i / 2", "E306", 3, "true division"),
    ("output y = -m", "E306", 3, "bool tensor"),
    ("output y = a + c", "E302", 3, "axis 1 (size 4 vs 3)"),
    ("output y = (a > 0) and a", "E306", 3, "needs bool"),
    ("output y = where(a, a, a)", "E306", 3, "needs bool"),
    ("output y = a // 2", "E205", 3, "cannot apply `//`"),
    ("output y = a % 2", "E205", 3, "cannot apply `%`"),
    ("output y = a -> add", "E208", 3, "second tensor or a number"),
])
def test_located_errors(body, code, line, fragment):
    src = ("model M { input a: f32[N, 4]\n input m: bool[N, 4] input i: i64[N, 4] "
           "input c: f32[N, 3]\n " + body + " }")
    diags = dslc.check_text(src).errors
    assert [d.code for d in diags] == [code], [d.short() for d in diags]
    d = diags[0]
    assert d.span.line == line and fragment in d.message, d.short()
    if code != "E205":
        assert d.expected and d.got, d.short()
    else:
        assert d.help, d.short()


OPERATOR_KINDS = [("a + b", "add"), ("a - b", "sub"), ("a * b", "mul"), ("a / b", "div"),
                  ("a ** b", "pow"), ("-a", "neg"), ("a == b", "eq"), ("a != b", "ne"),
                  ("a < b", "lt"), ("a <= b", "le"), ("a > b", "gt"), ("a >= b", "ge")]


@pytest.mark.parametrize("expr, kind", OPERATOR_KINDS)
def test_each_operator_is_its_op_and_the_call_form_agrees(expr, kind):
    a = np.abs(RNG.uniform(0.5, 3, (2, 4))).astype(np.float32)
    b = np.round(RNG.uniform(0.5, 3, (2, 4))).astype(np.float32)
    b[0, 0] = a[0, 0]
    call = f"{kind}(a)" if kind == "neg" else f"{kind}(a, b)"
    src = f"model M {{ input a: f32[2, 4]\n input b: f32[2, 4]\n output y = {expr}\n output z = {call} }}"
    model, t, o = _both(src, a, b)
    assert [n.kind for n in model.nodes] == [kind, kind]
    for got in (t, o):
        np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("expr, kind, fn", [
    ("m and n", "logical_and", np.logical_and), ("m or n", "logical_or", np.logical_or),
    ("not m", "logical_not", lambda m, n: ~m)])
def test_logic_operators_and_their_ops(expr, kind, fn):
    m = np.array([[True, True, False, False]])
    n = np.array([[True, False, True, False]])
    call = f"{kind}(m)" if kind == "logical_not" else f"{kind}(m, n)"
    src = f"model M {{ input m: bool[1, 4]\n input n: bool[1, 4]\n output y = {expr}\n output z = {call} }}"
    model, t, o = _both(src, m, n)
    assert [x.kind for x in model.nodes] == [kind, kind]
    for got in (t, o):
        np.testing.assert_array_equal(got[0], fn(m, n))
        np.testing.assert_array_equal(got[1], fn(m, n))
