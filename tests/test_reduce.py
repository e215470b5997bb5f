"""The reductions (dslc/ops/reduce.py): values of both backends against NumPy oracles computed
in float64 (independent of dslc's lowerings), torch-vs-onnxruntime parity over symbolic axes,
output types, and located diagnostics."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from dslc.ir.core import tensor
from dslc.ops.base import ShapeError
from dslc.ops.reduce import OPS
from support import parity

_NP = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i32": np.int32,
       "i64": np.int64, "u8": np.uint8, "bool": np.bool_}
WORST: dict[str, float] = {}   # kind -> worst |backend - oracle| / max(|oracle|, 1) seen


def _model(snippet: str, typ: str = "f32[3, 4, 5]"):
    return dslc.load(f"model M {{\n input x: {typ}\n output y = x -> {snippet}\n}}").models["M"]


def _backends(model, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    import torch
    with torch.no_grad():
        t = model.to_torch().eval()(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    return {"torch": t, "onnxruntime": sess.run(None, {"x": x})[0]}


def _check(model, x, want, kind: str, rtol=1e-5, atol=1e-4, exact=False):
    """Both backends against the oracle: values, shape, and the dtype the IR declares."""
    declared = _NP[model.outputs[0].type.dtype]
    want = np.asarray(want)
    for backend, got in _backends(model, x).items():
        assert got.dtype == declared, f"{backend}: dtype {got.dtype}, IR says {declared}"
        assert got.shape == want.shape, f"{backend}: shape {got.shape}, oracle {want.shape}"
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=backend)
            continue
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol,
                                   err_msg=backend)
        finite = np.isfinite(want)
        if finite.any():
            err = np.abs(got.astype(np.float64)[finite] - want[finite])
            diff = float(np.max(err / np.maximum(np.abs(want[finite]), 1.0)))
            WORST[kind] = max(WORST.get(kind, 0.0), diff)


def _uniform(shape=(3, 4, 5), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-8, 8, size=shape).astype(dtype)


# ---- NumPy oracles (float64) ----
def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isinf(m), 0.0, m)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _norm(x, axis, keepdims, p):
    a = np.abs(x)
    if p == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** p, axis=axis, keepdims=keepdims) ** (1.0 / p)


def _arg(fn):
    def oracle(x, axis, keepdims):
        if axis is None:
            flat = fn(x)
            return np.reshape(flat, (1,) * x.ndim) if keepdims else flat
        return fn(x, axis=axis, keepdims=keepdims)
    return oracle


ORACLES = {
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
    "var": lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims, ddof=1),
    "std": lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims, ddof=1),
    "logsumexp": _logsumexp,
    "norm": lambda x, axis, keepdims: _norm(x, axis, keepdims, 2),
    "argmax": _arg(np.argmax), "argmin": _arg(np.argmin),
}
AXES = [1, -1, (0, 2), (-1, 1), (0, 1, 2), None]


def _src(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).replace(",)", ")") if isinstance(v, tuple) else str(v)


def _snippet(kind, axis, keepdim, **extra) -> str:
    args = [f"{k}={_src(v)}" for k, v in extra.items()]
    if axis is not None:
        args.append(f"axis={_src(axis)}")
    args.append(f"keepdim={_src(keepdim)}")
    return f"{kind}({', '.join(args)})"


FLOAT_CASES = [(k, a, kd) for k in ("sum", "mean", "max", "min", "prod", "var", "std",
                                     "logsumexp", "norm") for a in AXES for kd in (False, True)]


@pytest.mark.parametrize("kind, axis, keepdim", FLOAT_CASES,
                         ids=[f"{k}-{a}-{'keep' if kd else 'drop'}" for k, a, kd in FLOAT_CASES])
def test_float_reductions_match_numpy(kind, axis, keepdim):
    x = _uniform()
    model = _model(_snippet(kind, axis, keepdim))
    want = ORACLES[kind](x.astype(np.float64), axis=axis, keepdims=keepdim)
    _check(model, x, want, kind)


def test_prod_of_everything_is_large_and_still_accurate():
    x = _uniform()
    want = np.prod(x.astype(np.float64))
    assert abs(want) > 1e15     # the relative tolerance is what is being tested here
    _check(_model("prod"), x, want, "prod", rtol=2e-5, atol=0)


@pytest.mark.parametrize("snippet, ddof, axis", [
    ("var(1, correction=0)", 0, 1), ("var(axis=(0, 2), correction=2)", 2, (0, 2)),
    ("std(-1, correction=0)", 0, -1), ("std(correction=2)", 2, None),
    ("var(axis=1, correction=1.5)", 1.5, 1)])
def test_var_and_std_corrections(snippet, ddof, axis):
    x = _uniform(seed=3)
    fn = np.std if snippet.startswith("std") else np.var
    _check(_model(snippet), x, fn(x.astype(np.float64), axis=axis, ddof=ddof), snippet[:3])


@pytest.mark.parametrize("p", [1, 2, 3.5, 0.5, "inf"])
@pytest.mark.parametrize("axis", [1, (0, -1), None])
def test_norm_orders(p, axis):
    x = _uniform(seed=4)
    order = np.inf if p == "inf" else p
    want = _norm(x.astype(np.float64), axis, False, order)
    args = f"p={p}" + (f", axis={_src(axis)}" if axis is not None else "")
    _check(_model(f"norm({args})"), x, want, "norm", rtol=2e-5)


def test_norm_takes_p_then_axis_positionally():
    assert _model("norm(1, -1)").nodes[0].op == _model("norm(p=1, axis=-1)").nodes[0].op
    x = _uniform(seed=5)
    _check(_model("norm(1, -1)"), x, np.sum(np.abs(x.astype(np.float64)), axis=-1), "norm")


@pytest.mark.parametrize("axis, keepdim", [(1, False), ((1, 2), True), (None, False), (-1, True)])
def test_logsumexp_is_stable_for_large_inputs(axis, keepdim):
    x = (1000 + _uniform(seed=6)).astype(np.float32)
    x[0, 0] = -1000.0
    x[1, 1, :2] = [1000.0, 1000.0]
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.log(np.sum(np.exp(x.astype(np.float64))))), "input too small"
    want = _logsumexp(x.astype(np.float64), axis, keepdim)
    _check(_model(_snippet("logsumexp", axis, keepdim)), x, want, "logsumexp", rtol=1e-6, atol=1e-3)


def test_logsumexp_of_two_equal_large_values():
    x = np.full((2, 2), 1000.0, dtype=np.float32)
    _check(_model("logsumexp(1)", "f32[2, 2]"), x, np.full(2, 1000 + np.log(2.0)), "logsumexp")


def test_logsumexp_with_infinite_rows_follows_torch():
    """A row of -inf gives -inf (its max is replaced by 0, not subtracted); +inf gives +inf."""
    x = _uniform((3, 4), seed=7)
    x[0] = -np.inf
    x[1, 2] = np.inf
    want = _logsumexp(x.astype(np.float64), 1, False)
    assert want[0] == -np.inf and want[1] == np.inf and np.isfinite(want[2])
    _check(_model("logsumexp(1)", "f32[3, 4]"), x, want, "logsumexp")


# ---- argmax / argmin: ties take the first index ----
def _tied(seed=8):
    x = np.random.default_rng(seed).integers(0, 3, size=(3, 4, 5)).astype(np.float32)
    x[0, 0, :] = 1.0     # a row that is one tie
    return x


@pytest.mark.parametrize("kind", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, None])
@pytest.mark.parametrize("keepdim", [False, True])
def test_arg_reductions_take_the_first_index_on_ties(kind, axis, keepdim):
    x = _tied()
    fn = np.argmax if kind == "argmax" else np.argmin
    want = ORACLES[kind](x, axis, keepdim)
    if axis is not None:   # the input does tie: the last extreme index differs somewhere
        n = x.shape[axis]
        last = n - 1 - fn(np.flip(x, axis=axis), axis=axis, keepdims=keepdim)
        assert (last != want).any()
    else:
        extreme = x.max() if kind == "argmax" else x.min()
        assert (x == extreme).sum() > 1
    _check(_model(_snippet(kind, axis, keepdim)), x, want, kind, exact=True)


@pytest.mark.parametrize("dtype", ["i32", "i64", "u8"])
@pytest.mark.parametrize("kind", ["argmax", "argmin"])
def test_arg_reductions_of_integers(dtype, kind):
    x = np.random.default_rng(9).integers(0, 4, size=(3, 4, 5)).astype(_NP[dtype])
    want = ORACLES[kind](x, 1, False)
    _check(_model(f"{kind}(1)", f"{dtype}[3, 4, 5]"), x, want, kind, exact=True)


# ---- integer and bool inputs: sum and prod give i64, max and min keep the dtype ----
@pytest.mark.parametrize("dtype", ["i32", "i64", "u8", "bool"])
@pytest.mark.parametrize("axis", [1, (0, 2), None])
def test_integer_sum_and_prod_accumulate_in_i64(dtype, axis):
    rng = np.random.default_rng(10)
    x = (rng.integers(0, 2, size=(3, 4, 5)) if dtype == "bool" else
         rng.integers(1, 250 if dtype == "u8" else 4, size=(3, 4, 5))).astype(_NP[dtype])
    typ = f"{dtype}[3, 4, 5]"
    ax = "" if axis is None else f"axis={_src(axis)}"
    wide = x.astype(np.int64)
    _check(_model(f"sum({ax})", typ), x, np.sum(wide, axis=axis), "sum", exact=True)
    small = x if dtype == "bool" else (x % 2 + 1).astype(x.dtype)   # 2**60 fits in i64
    want = np.prod(small.astype(np.int64), axis=axis)
    _check(_model(f"prod({ax})", typ), small, want, "prod", exact=True)
    if dtype == "u8":    # 250 * 5 overflows u8, and the i64 sum is still right
        assert np.sum(wide, axis=axis).max() > 255


@pytest.mark.parametrize("dtype", ["i32", "i64", "u8", "bool"])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_max_and_min_keep_the_dtype(dtype, kind):
    x = np.random.default_rng(11).integers(0, 100, size=(3, 4, 5))
    x = (x % 2 if dtype == "bool" else x).astype(_NP[dtype])
    fn = np.max if kind == "max" else np.min
    _check(_model(f"{kind}(axis=(1, 2))", f"{dtype}[3, 4, 5]"), x, fn(x, axis=(1, 2)), kind,
           exact=True)


@pytest.mark.parametrize("snippet", ["mean(1)", "var(axis=(0, 2))", "std(1, correction=0)",
                                     "logsumexp(-1)", "norm(3.5, axis=1)", "sum(1)", "prod(2)"])
def test_float64_graphs_use_float64_constants(snippet):
    x = _uniform(seed=12, dtype=np.float64)
    kind = snippet.split("(")[0]
    want = {"mean(1)": lambda: np.mean(x, axis=1),
            "var(axis=(0, 2))": lambda: np.var(x, axis=(0, 2), ddof=1),
            "std(1, correction=0)": lambda: np.std(x, axis=1),
            "logsumexp(-1)": lambda: _logsumexp(x, -1, False),
            "norm(3.5, axis=1)": lambda: _norm(x, 1, False, 3.5),
            "sum(1)": lambda: np.sum(x, axis=1), "prod(2)": lambda: np.prod(x, axis=2)}[snippet]()
    _check(_model(snippet, "f64[3, 4, 5]"), x, want, kind, rtol=1e-12, atol=1e-12)


# ---- symbolic reduced axes ----
SYMBOLIC = [("sum(1)", lambda x: np.sum(x, axis=1)),
            ("mean(1)", lambda x: np.mean(x, axis=1)),
            ("var(1)", lambda x: np.var(x, axis=1, ddof=1)),
            ("std(axis=(0, 1), correction=0)", lambda x: np.std(x, axis=(0, 1))),
            ("var(axis=(1, 2), keepdim=true)", lambda x: np.var(x, axis=(1, 2), ddof=1, keepdims=True)),
            ("logsumexp(1)", lambda x: _logsumexp(x, 1, False)),
            ("norm(axis=1)", lambda x: _norm(x, 1, False, 2)),
            ("max(1)", lambda x: np.max(x, axis=1)),
            ("prod(1)", lambda x: np.prod(x, axis=1)),
            ("argmax(1)", lambda x: np.argmax(x, axis=1))]


@pytest.mark.parametrize("snippet, oracle", SYMBOLIC, ids=[s for s, _ in SYMBOLIC])
def test_symbolic_set_axis(snippet, oracle):
    """A set of S elements reduced over axis 1: [N, F] for every S; mean and var divide by the
    run-time size."""
    model = _model(snippet, "f32[N, S, 4]")
    for n, s in ((2, 3), (2, 7)):
        parity(model, {"N": n, "S": s})
        x = np.random.default_rng(s).standard_normal((n, s, 4)).astype(np.float32)
        _check(model, x, oracle(x.astype(np.float64)), snippet.split("(")[0],
               exact=snippet.startswith("argmax"))


def test_var_over_a_composite_symbolic_size():
    """2*S (a concat) and L // 2 (a pool): N read from the run-time shape, not from a symbol."""
    model = dslc.load("""model M {
        input x: f32[N, S, 3]
        input z: f32[N, 2, L] where L >= 2
        output a = concat(x, x, axis=1) -> var(axis=1)
        output b = z -> maxpool1d(2) -> var(axis=(1, 2), correction=0)
    }""").models["M"]
    assert [str(p.type) for p in model.outputs] == ["f32[N, 3]", "f32[N]"]
    import onnxruntime as ort
    import torch
    sess = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                providers=["CPUExecutionProvider"])
    module = model.to_torch().eval()
    for n, s, length in ((2, 3, 7), (3, 5, 10)):
        parity(model, {"N": n, "S": s, "L": length})
        rng = np.random.default_rng(s)
        x = rng.standard_normal((n, s, 3)).astype(np.float32)
        z = rng.standard_normal((n, 2, length)).astype(np.float32)
        pooled = z[..., :length // 2 * 2].reshape(n, 2, length // 2, 2).max(-1).astype(np.float64)
        want_a = np.var(np.concatenate([x, x], axis=1).astype(np.float64), axis=1, ddof=1)
        want_b = np.var(pooled, axis=(1, 2))
        with torch.no_grad():
            t = [o.numpy() for o in module(torch.from_numpy(x), torch.from_numpy(z))]
        o = sess.run(None, {"x": x, "z": z})
        for got in (t, o):
            np.testing.assert_allclose(got[0], want_a, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got[1], want_b, rtol=1e-5, atol=1e-5)


# ---- output types ----
@pytest.mark.parametrize("snippet, typ, want", [
    ("sum(1)", "f32[N, S, 4]", "f32[N, 4]"),
    ("sum(axis=1, keepdim=true)", "f32[N, S, 4]", "f32[N, 1, 4]"),
    ("mean(axis=(0, -1))", "f32[N, S, 4]", "f32[S]"),
    ("mean(axis=(0, -1), keepdim=true)", "f32[N, S, 4]", "f32[1, S, 1]"),
    ("max", "f32[N, S, 4]", "f32[]"),
    ("min(keepdim=true)", "f32[N, S, 4]", "f32[1, 1, 1]"),
    ("var(axis=2)", "f32[N, S, 4]", "f32[N, S]"),
    ("std(-2)", "f64[N, S, 4]", "f64[N, 4]"),
    ("logsumexp(axis=(1, 2))", "f16[N, S, 4]", "f16[N]"),
    ("norm(axis=(1, 2), keepdim=true)", "f32[N, S, 4]", "f32[N, 1, 1]"),
    ("prod(axis=1)", "bool[N, S, 4]", "i64[N, 4]"),
    ("sum", "i32[N, S, 4]", "i64[]"),
    ("sum(1)", "i64[N, S, 4]", "i64[N, 4]"),
    ("max(1)", "i32[N, S, 4]", "i32[N, 4]"),
    ("argmax(axis=-1)", "f32[N, S, 4]", "i64[N, S]"),
    ("argmin(1, keepdim=true)", "f32[N, S, 4]", "i64[N, 1, 4]"),
    ("argmax", "f32[N, S, 4]", "i64[]"),
    ("argmax(keepdim=true)", "f32[N, S, 4]", "i64[1, 1, 1]"),
    ("argmin(0)", "i32[N, S, 4]", "i64[S, 4]"),
])
def test_output_types(snippet, typ, want):
    model = _model(snippet, typ)
    assert str(model.outputs[0].type) == want
    assert model.nodes[0].macs() == 0


def test_positional_axis_is_the_keyword_axis():
    for kind in ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "argmax", "argmin"):
        assert _model(f"{kind}(1)").nodes[0].op == _model(f"{kind}(axis=1)").nodes[0].op
    assert _model("sum((0, 2))").nodes[0].op == _model("sum(axis=(0, 2))").nodes[0].op


def test_each_op_has_its_own_docstring_and_precision_flag():
    precise = {"mean", "var", "std", "logsumexp", "norm"}
    assert {op.kind for op in OPS} == {"sum", "mean", "max", "min", "prod", "var", "std",
                                       "logsumexp", "argmax", "argmin", "norm"}
    for op in OPS:
        assert (op.__dict__.get("__doc__") or "").strip(), f"{op.kind} has no docstring"
        assert getattr(op, "precise", False) is (op.kind in precise), op.kind


def test_strict_onnx_shape_inference_on_symbolic_reductions():
    import onnx
    for snippet, want in [("var(axis=(1, 2))", ["N"]), ("logsumexp(1)", ["N", 4]),
                          ("argmax(keepdim=true)", [1, 1, 1]), ("norm(3.5)", [])]:
        proto = onnx.shape_inference.infer_shapes(_model(snippet, "f32[N, S, 4]").to_onnx(),
                                                  strict_mode=True)
        dims = proto.graph.output[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == want, snippet


# ---- diagnostics ----
def _errors(snippet: str, typ: str = "f32[N, S, 4]"):
    p = dslc.check_text(f"model M {{\n input x: {typ}\n output y = x -> {snippet}\n}}")
    return p.errors


def test_reducing_a_missing_axis_is_located():
    errs = _errors("sum(axis=3)")
    assert [d.code for d in errs] == ["E205"]
    e = errs[0]
    assert e.span.line == 3
    assert "[N, S, 4]" in e.message and "rank-3" in e.message and "axis 3" in e.message
    assert e.expected == "an axis in [-3, 2]" and "3" in e.got and "rank 3" in e.got


@pytest.mark.parametrize("snippet", ["mean(axis=(1, -4))", "argmax(3)", "var(-4)",
                                     "norm(2, axis=(0, 5))"])
def test_every_op_checks_its_axes(snippet):
    errs = _errors(snippet)
    assert [d.code for d in errs] == ["E205"] and errs[0].span.line == 3
    assert "out of range" in errs[0].message


@pytest.mark.parametrize("snippet, fragment", [("sum(axis=(1, -2))", "axes 1 and -2 both name axis 1"),
                                               ("max(axis=(2, 2))", "axis 2 is given twice"),
                                               ("std(axis=(0, -3))", "axes 0 and -3")])
def test_the_same_axis_twice_is_located(snippet, fragment):
    errs = _errors(snippet)
    assert [d.code for d in errs] == ["E205"] and errs[0].span.line == 3
    assert fragment in errs[0].message
    assert errs[0].expected == "distinct axes" and errs[0].got.startswith("axis=(")


@pytest.mark.parametrize("kind", ["mean", "var", "std", "logsumexp", "norm"])
@pytest.mark.parametrize("dtype", ["i64", "i32", "bool"])
def test_float_only_reductions_refuse_integers(kind, dtype):
    errs = _errors(f"{kind}(axis=1)", f"{dtype}[N, S, 4]")
    assert [d.code for d in errs] == ["E306"] and errs[0].span.line == 3
    assert errs[0].expected == "f16, bf16, f32 or f64" and errs[0].got == dtype
    assert "cast(f32)" in errs[0].help


def test_mean_of_an_i64_tensor():
    (e,) = _errors("mean(1)", "i64[N, S, 4]")
    assert e.code == "E306" and e.span.line == 3 and "i64[N, S, 4]" in e.message


def test_argmax_of_bool_is_refused():
    (e,) = _errors("argmax(1)", "bool[N, 4]")
    assert e.code == "E306" and e.span.line == 3 and e.got == "bool[N, 4]"


@pytest.mark.parametrize("snippet", ["norm(0)", "norm(-1, axis=1)", "norm(p=fro)"])
def test_norm_needs_a_positive_order(snippet):
    (e,) = _errors(snippet)
    assert e.code == "E205" and e.span.line == 3 and "positive" in e.message


def test_var_over_too_few_elements():
    (e,) = _errors("var(1)", "f32[N, 1, 4]")
    assert e.code == "E303" and e.span.line == 3 and "correction=0" in e.help
    assert _errors("std(axis=(1, 2), correction=4)", "f32[N, 2, 2]")[0].code == "E303"
    assert not _errors("var(1, correction=0)", "f32[N, 1, 4]")
    assert not _errors("var(1)", "f32[N, S, 4]")      # S may be 1: torch's nan, not an error
    assert _errors("var(correction=-1)")[0].code == "E205"


def test_argmax_takes_one_axis_and_positional_limits():
    assert [d.code for d in _errors("argmax(axis=(1, 2))")] == ["E205"]
    assert [d.code for d in _errors("sum(1, true)")] == ["E207"]
    assert [d.code for d in _errors("norm(2, 1, true)")] == ["E207"]
    assert [d.code for d in _errors("sum(axis=1.5)")] == ["E205"]


def test_an_empty_axis_tuple_is_refused():
    from dslc.ops.reduce import Sum
    with pytest.raises(ShapeError) as err:
        Sum(axis=()).shape(tensor((2, 3)))
    assert err.value.code == "E205" and "no axis" in err.value.message

