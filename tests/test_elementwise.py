"""The elementwise functions (dslc/ops/elementwise.py).

Values: both backends (the torch module of `to_torch()` and onnxruntime on `to_onnx()`) against
NumPy formulas evaluated in float64 on the same inputs, then rounded to the output dtype; the
formulas are written here from the functions' definitions, independent of dslc's lowerings.
Inputs reach every branch: U(-8, 8), N(0, 1), exact zeros, halves, the +-3 knees, large
magnitudes, values beyond the clamp bounds, and domain-restricted inputs for log/sqrt/log1p.
Then torch-vs-onnxruntime parity at two sizes of a symbolic dim, shapes and dtypes, and the
diagnostics."""
from __future__ import annotations

import math

import numpy as np
import pytest

import dslc
from dslc.ops.elementwise import OPS
from support import parity


def _model(snippet: str, dtype: str = "f32", shape: str = "N"):
    src = f"model M {{\n    input x: {dtype}[{shape}]\n    output y = x -> {snippet}\n}}"
    return dslc.load(src).models["M"]


def _run(model, x: np.ndarray):
    """(torch output, onnxruntime output) of a one-input model, as numpy arrays."""
    import onnxruntime as ort
    import torch
    module = model.to_torch(weights={}).eval()
    with torch.no_grad():
        t = module(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(model.to_onnx(weights={}).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return t, sess.run(None, {"x": x})[0]


# ---- inputs ----
_rng = np.random.default_rng(7)
SPECIAL = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 1.0, -1.0, 3.0, -3.0, 2.999,
           -2.999, 3.001, -3.001, 6.0, -6.0, 1e-3, -1e-3, 1e-6, -1e-6, 1e-30, -1e-30, 20.0, -20.0,
           40.0, -40.0, 100.0, -100.0]
GENERAL = np.concatenate([_rng.uniform(-8, 8, 3000), _rng.standard_normal(3000), SPECIAL])
POSITIVE = np.concatenate([np.abs(GENERAL), _rng.uniform(0, 1e-3, 300)])          # with 0 and -0
ABOVE_MINUS_ONE = np.concatenate([POSITIVE, -_rng.uniform(0, 1, 500),
                                  [-1.0, -0.999, 1e-10, -1e-10, 1e-7, -1e-7, 1e-5, -1e-5, 1e-3]])
DOMAINS = {"general": GENERAL, "positive": POSITIVE, "above_minus_one": ABOVE_MINUS_ONE}


def _softplus(x):
    return np.logaddexp(0.0, x)


_erf = np.vectorize(math.erf, otypes=[np.float64])

# snippet -> (formula on float64, input domain, exact?)
ORACLES = {
    "exp": (np.exp, "general", False),
    "log": (np.log, "positive", False),
    "log1p": (np.log1p, "above_minus_one", False),
    "sqrt": (np.sqrt, "positive", False),
    "rsqrt": (lambda x: 1.0 / np.sqrt(x), "positive", False),
    "abs": (np.abs, "general", True),
    "square": (lambda x: x * x, "general", False),
    "clamp(-1.5, 2)": (lambda x: np.minimum(np.maximum(x, -1.5), 2.0), "general", True),
    "clamp(min=0.25)": (lambda x: np.maximum(x, 0.25), "general", True),
    "clamp(max=-0.75)": (lambda x: np.minimum(x, -0.75), "general", True),
    "sin": (np.sin, "general", False),
    "cos": (np.cos, "general", False),
    "erf": (_erf, "general", False),
    "sign": (np.sign, "general", True),
    "floor": (np.floor, "general", True),
    "round": (np.round, "general", True),            # numpy rounds halves to even, as torch
    "reciprocal": (lambda x: 1.0 / x, "general", False),
    "softsign": (lambda x: x / (1.0 + np.abs(x)), "general", False),
    "logsigmoid": (lambda x: -_softplus(-x), "general", False),
    "mish": (lambda x: x * np.tanh(_softplus(x)), "general", False),
    "hardswish": (lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0, "general", False),
    "hardsigmoid": (lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0, "general", False),
}
# |got - want| <= TOL * (1 + |want|): about 8 units in the last place of the dtype
TOL = {"f32": 1e-6, "f64": 2e-15, "f16": 4e-3}
_NP = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


def _check(got, want, x, dtype: str, exact: bool, who: str) -> float:
    """Compare with the float64 oracle rounded to the output dtype; return the max |diff|."""
    with np.errstate(all="ignore"):
        ref = want.astype(_NP[dtype])
        assert got.dtype == ref.dtype, f"{who}: dtype {got.dtype}, expected {ref.dtype}"
        same = (got == ref) | (np.isnan(got) & np.isnan(ref))
        if exact:
            bad = ~same | (np.signbit(got) != np.signbit(ref))
        else:
            err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            bad = ~(same | (err <= TOL[dtype] * (1.0 + np.abs(ref.astype(np.float64)))))
        assert not bad.any(), (f"{who}: wrong at x={x[bad][:6]}: got {got[bad][:6]}, "
                               f"expected {ref[bad][:6]}")
        fin = np.isfinite(ref)
        return float(np.max(np.abs(got[fin].astype(np.float64) - want[fin]), initial=0.0))


def _values(snippet: str, dtype: str):
    formula, domain, exact = ORACLES[snippet]
    x = DOMAINS[domain].astype(_NP[dtype])
    with np.errstate(all="ignore"):
        want = formula(x.astype(np.float64))
    t, o = _run(_model(snippet, dtype), x)
    return [_check(t, want, x, dtype, exact, f"torch {snippet}"),
            _check(o, want, x, dtype, exact, f"onnxruntime {snippet}")]


@pytest.mark.parametrize("snippet", list(ORACLES))
def test_values_f32_against_numpy(snippet):
    _values(snippet, "f32")


# f64 takes the formula paths of softsign, mish, hardswish and hardsigmoid (onnxruntime's CPU
# provider has no f64 kernel for those ONNX ops); it has none for Erf either (not worked around).
@pytest.mark.parametrize("snippet", [s for s in ORACLES if s != "erf"])
def test_values_f64_against_numpy(snippet):
    _values(snippet, "f64")


@pytest.mark.parametrize("snippet", ["log1p", "logsigmoid", "clamp(-1.5, 2)", "hardswish",
                                     "mish", "round", "rsqrt"])
def test_values_f16_against_numpy(snippet):
    _values(snippet, "f16")


def test_round_is_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 0.49999997, -0.4], dtype=np.float32)
    want = np.array([0, 2, 2, -0.0, -2, -2, 4, 0, -0.0], dtype=np.float32)
    for got in _run(_model("round"), x):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_knees_of_hardswish_and_hardsigmoid():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0], dtype=np.float32)
    for got in _run(_model("hardsigmoid"), x):
        np.testing.assert_allclose(got, [0, 0, 0.25, 0.5, 0.75, 1, 1], rtol=0, atol=1e-7)
    for got in _run(_model("hardswish"), x):
        np.testing.assert_allclose(got, [0, 0, -0.375, 0, 1.125, 3, 4], rtol=0, atol=1e-6)


def test_log1p_keeps_precision_near_zero():
    x = np.array([1e-10, -1e-10, 3e-8, 1e-7, -1e-7, 1e-5], dtype=np.float32)
    want = np.log1p(x.astype(np.float64))
    for got in _run(_model("log1p"), x):
        rel = np.abs(got - want) / np.abs(want)
        assert rel.max() < 2e-7, rel          # plain log(1 + x) would give 0 or 19% off here


def test_log1p_edges():
    x = np.array([-1.0, -2.0, np.inf, 0.0, -0.0], dtype=np.float32)
    for got in _run(_model("log1p"), x):
        assert got[0] == -np.inf and np.isnan(got[1]) and got[2] == np.inf
        assert got[3] == 0 and got[4] == 0 and np.signbit(got[4])


def test_logsigmoid_is_stable_for_large_magnitudes():
    x = np.array([-200.0, -100.0, -30.0, 30.0, 100.0, 200.0], dtype=np.float32)
    want = -_softplus(-x.astype(np.float64))
    for got in _run(_model("logsigmoid"), x):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-30)


def test_sign_of_zero_is_zero():
    x = np.array([0.0, -0.0, 1e-30, -1e-30, 5.0, -5.0], dtype=np.float32)
    for got in _run(_model("sign"), x):
        np.testing.assert_array_equal(got, [0, 0, 1, -1, 1, -1])


# ---- integer tensors ----
INTS = {"i64": np.int64, "i32": np.int32, "i8": np.int8}
_ints = np.array([0, 1, -1, 2, -2, 5, -5, 7, -7, 11, -11, 12, -12, 100, -100, 127, -127, -128])


@pytest.mark.parametrize("dtype", list(INTS))
@pytest.mark.parametrize("snippet, formula", [
    ("abs", np.abs), ("square", lambda x: x * x), ("sign", np.sign),
    ("clamp(-7, 11)", lambda x: np.clip(x, -7, 11)), ("clamp(min=2)", lambda x: np.maximum(x, 2)),
    ("clamp(max=-5)", lambda x: np.minimum(x, -5))])
def test_integer_values(snippet, formula, dtype):
    x = _ints.astype(INTS[dtype])
    model = _model(snippet, dtype)
    assert str(model.outputs[0].type) == f"{dtype}[N]"
    want = formula(x)                 # numpy's integer arithmetic wraps, as torch's does
    for got in _run(model, x):
        assert got.dtype == INTS[dtype]
        np.testing.assert_array_equal(got, want)


# ---- cast ----
CASTS = np.array([-2.7, -2.5, -1.0, -0.5, -0.0, 0.0, 0.3, 0.5, 0.999, 1.0, 2.5, 2.7, 100.9, -100.9],
                 dtype=np.float32)


@pytest.mark.parametrize("target, npdt", [("i64", np.int64), ("i32", np.int32), ("i8", np.int8)])
def test_cast_float_to_int_truncates_toward_zero(target, npdt):
    model = _model(f"cast({target})")
    assert model.outputs[0].type.dtype == target
    want = np.trunc(CASTS.astype(np.float64)).astype(npdt)
    for got in _run(model, CASTS):
        assert got.dtype == npdt
        np.testing.assert_array_equal(got, want)


def test_cast_to_bool_is_nonzero():
    x = np.array([0.0, -0.0, 1e-30, -3.0, 0.5, np.inf, np.nan], dtype=np.float32)
    for got in _run(_model("cast(bool)"), x):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, [False, False, True, True, True, True, True])
    ints = np.array([0, 3, -1, 0], dtype=np.int64)
    for got in _run(_model("cast(bool)", "i64"), ints):
        np.testing.assert_array_equal(got, [False, True, True, False])


def test_cast_from_bool_and_int():
    m = np.array([True, False, True])
    for got in _run(_model("cast(f32)", "bool"), m):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, [1.0, 0.0, 1.0])
    ints = np.array([-3, 0, 2 ** 24 + 1, 7], dtype=np.int64)
    for got in _run(_model("cast(f32)", "i64"), ints):
        np.testing.assert_array_equal(got, ints.astype(np.float64).astype(np.float32))


def test_cast_between_floats_rounds_to_nearest_even():
    import ml_dtypes
    ties = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000.0, 1e-8]     # f16 ties round to even
    x = np.concatenate([GENERAL, ties]).astype(np.float32)
    with np.errstate(over="ignore"):
        half = x.astype(np.float16)                       # 70000 overflows to inf
    for got in _run(_model("cast(f16)"), x):
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, half)
    for got in _run(_model("cast(f64)"), x):
        np.testing.assert_array_equal(got, x.astype(np.float64))
    want = x.astype(ml_dtypes.bfloat16).astype(np.float32)
    for got in _run(_model("cast(bf16) -> cast(f32)"), x):
        np.testing.assert_array_equal(got, want)


def test_cast_positional_and_keyword_agree():
    a, b = _model("cast(f16)"), _model("cast(dtype=f16)")
    assert a.outputs[0].type == b.outputs[0].type
    assert str(a.outputs[0].type) == "f16[N]"
    assert a.nodes[0].op.describe() == "cast(f16)"


# ---- parity at two sizes of a symbolic dim (N(0,1) inputs; positive where the domain needs) ----
PARITY = ["exp", "exp -> log", "abs -> log1p", "abs -> sqrt", "exp -> rsqrt", "abs", "square",
          "clamp(-0.5, 0.5)", "clamp(min=0)", "clamp(max=0.1)", "sin", "cos", "erf", "sign",
          "mul(3) -> floor", "mul(3) -> round", "reciprocal", "softsign", "logsigmoid", "mish",
          "mul(4) -> hardswish", "mul(4) -> hardsigmoid", "mul(4) -> cast(i64)", "cast(bool)",
          "cast(f16) -> cast(f32)", "dense(5) -> mish -> dense(3) -> logsigmoid"]


@pytest.mark.parametrize("snippet", PARITY)
def test_parity_at_two_sizes(snippet):
    model = _model(snippet, shape="N, 6")
    for n in (2, 5):
        parity(model, {"N": n})


@pytest.mark.parametrize("snippet", ["abs", "square", "sign", "clamp(2, 7)", "cast(f32)",
                                     "cast(bool)"])
def test_parity_integer_inputs(snippet):
    model = _model(snippet, "i64", shape="N, 6")
    for n in (2, 5):
        parity(model, {"N": n})


# ---- shapes and dtypes ----
KINDS = [op.kind for op in OPS]
FLOAT_SNIPPET = {k: k for k in KINDS} | {"clamp": "clamp(min=0)", "cast": "cast(f32)"}


@pytest.mark.parametrize("kind", KINDS)
def test_shape_is_the_input_shape(kind):
    model = _model(FLOAT_SNIPPET[kind], shape="N, 3, W")
    assert str(model.outputs[0].type) == "f32[N, 3, W]"
    assert model.params == 0 and model.nodes[0].macs() == 0
    proto = model.to_onnx(weights={})
    import onnx
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, "W"]


@pytest.mark.parametrize("target", ["f16", "f32", "f64", "bf16", "i8", "i32", "i64", "u8", "bool"])
def test_cast_output_dtype(target):
    from onnx import TensorProto
    model = _model(f"cast({target})", shape="N, 4")
    assert str(model.outputs[0].type) == f"{target}[N, 4]"
    enum = {"f16": TensorProto.FLOAT16, "f32": TensorProto.FLOAT, "f64": TensorProto.DOUBLE,
            "bf16": TensorProto.BFLOAT16, "i8": TensorProto.INT8, "i32": TensorProto.INT32,
            "i64": TensorProto.INT64, "u8": TensorProto.UINT8, "bool": TensorProto.BOOL}[target]
    proto = model.to_onnx(weights={})
    assert proto.graph.output[0].type.tensor_type.elem_type == enum
    cast = [n for n in proto.graph.node if n.op_type == "Cast"]
    assert len(cast) == 1 and cast[0].attribute[0].i == enum


@pytest.mark.parametrize("snippet", ["abs", "square", "sign", "clamp(0, 3)"])
def test_integer_ops_keep_the_integer_dtype(snippet):
    assert str(_model(snippet, "i64", "N, 4").outputs[0].type) == "i64[N, 4]"
    assert str(_model(snippet, "i32", "N, 4").outputs[0].type) == "i32[N, 4]"


def test_clamp_bounds_take_the_tensor_dtype_in_onnx():
    from onnx import TensorProto, numpy_helper
    for dtype, enum in [("f64", TensorProto.DOUBLE), ("f16", TensorProto.FLOAT16),
                        ("i64", TensorProto.INT64)]:
        proto = _model("clamp(-1, 2)", dtype).to_onnx(weights={})
        bounds = [t for t in proto.graph.initializer]
        assert [t.data_type for t in bounds] == [enum, enum]
        assert [float(numpy_helper.to_array(t)) for t in bounds] == [-1.0, 2.0]
    proto = _model("clamp(max=2)").to_onnx(weights={})
    clip = [n for n in proto.graph.node if n.op_type == "Clip"][0]
    assert clip.input[1] == "" and len(clip.input) == 3


def test_describe():
    assert _model("clamp(min=0, max=6)").nodes[0].op.describe() == "clamp(0, 6)"
    assert _model("clamp(max=6)").nodes[0].op.describe() == "clamp(max=6)"   # not clamp(6)
    assert _model("clamp(min=-1.5)").nodes[0].op.describe() == "clamp(min=-1.5)"


# ---- diagnostics ----
def _errors(snippet: str, dtype: str = "f32"):
    src = f"model M {{\n    input x: {dtype}[N, 4]\n    output y = x -> {snippet}\n}}"
    return dslc.check_text(src).errors


def _one(snippet, dtype, code):
    errs = _errors(snippet, dtype)
    assert [e.code for e in errs] == [code], [e.short() for e in errs]
    e = errs[0]
    assert e.span.line == 3 and e.span.col == 21       # at the op, on its line
    return e


def test_float_function_on_integers_is_e306():
    e = _one("exp", "i64", "E306")
    assert "exp" in e.message and "floating-point" in e.message and "i64" in e.message
    assert e.expected == "f16, bf16, f32 or f64" and e.got == "i64"
    assert "cast(f32)" in e.help
    assert any("comes from here" in text and s.line == 2 for s, text in e.notes)


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("abs", "square", "sign", "clamp",
                                                                "cast")])
def test_every_float_function_rejects_integers_and_bool(kind):
    for dtype in ("i32", "bool"):
        e = _one(kind, dtype, "E306")
        assert e.got == dtype


@pytest.mark.parametrize("snippet", ["abs", "square", "sign", "clamp(min=0)"])
def test_integer_functions_reject_bool(snippet):
    e = _one(snippet, "bool", "E306")
    assert "bool" in e.message and e.got == "bool" and "cast" in e.help


def test_clamp_needs_a_bound():
    e = _one("clamp", "f32", "E205")
    assert "neither `min` nor `max`" in e.message
    assert e.expected == "min=, max= or both" and e.got == "no bound"
    assert e.notes == ()                        # not the input's fault


def test_clamp_float_bound_on_integer_tensor():
    e = _one("clamp(min=0.5)", "i64", "E306")
    assert "min=0.5" in e.message and "i64" in e.message and "integers" in e.message
    assert e.expected == "an integer bound" and e.got == "0.5"
    assert "cast(f32)" in e.help
    assert _one("clamp(max=2.0)", "i32", "E306").got == "2.0"


def test_clamp_bound_outside_the_integer_dtype():
    e = _one("clamp(min=-1)", "u8", "E205")
    assert e.expected == "an integer in [0, 255]" and e.got == "-1"
    assert _one("clamp(max=300)", "i8", "E205").expected == "an integer in [-128, 127]"


def test_clamp_min_above_max():
    e = _one("clamp(2, 1)", "f32", "E205")
    assert "min <= max" in e.message and e.got == "1"


def test_cast_to_an_unknown_dtype():
    e = _one("cast(dtype=f42)", "f32", "E205")
    assert "unknown dtype `f42`" in e.message
    assert e.expected == "f16, f32, f64, bf16, i8, i32, i64, u8, bool" and e.got == "f42"
    assert "f64" in e.help                      # did you mean
    assert e.notes == ()


def test_the_family_is_registered():
    from dslc.ops import INDEX
    listed = sorted(k for k, family in INDEX.items() if family == "elementwise")
    assert sorted(op.kind for op in OPS) == listed
    for op in OPS:
        assert "__doc__" in vars(op) and op.__doc__, f"{op.kind} has no docstring of its own"
