"""gather, index_select, slice, topk, one_hot, cumsum: values against torch functional ops and
NumPy on the same inputs, in both backends (dslc's torch module and its ONNX graph on
onnxruntime); parity at two values of each symbolic dim; output types; located diagnostics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dslc
from support import parity, random_weights, run_ort, run_torch

NP = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64, "i32": np.int32,
      "bool": np.bool_}


def _model(inputs: dict[str, str], body: str, where: str = ""):
    decl = "\n".join(f"    input {k}: {t}" for k, t in inputs.items())
    return dslc.load(f"model M {{\n{decl} {where}\n{body}\n}}").models["M"]


def _both(model, xs):
    weights = random_weights(model)
    return run_torch(model, weights, xs), run_ort(model, weights, xs)[0]


def _against(model, xs, wants, atol=0.0):
    """Every output of both backends against the oracles `wants`: shape, dtype, values."""
    t, o = _both(model, xs)
    worst = 0.0
    for i, want in enumerate(wants):
        for name, got in (("torch", t[i]), ("onnxruntime", o[i])):
            assert got.shape == want.shape, (name, i, got.shape, want.shape)
            assert got.dtype == want.dtype, (name, i, got.dtype, want.dtype)
            diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
            assert diff <= atol, f"{name} output {i} differs from the oracle by {diff}"
            worst = max(worst, diff)
    return worst


def _ir_types(model):
    return [(tuple(d.value for d in p.type.shape), p.type.dtype) for p in model.outputs]


def _errors(src):
    return dslc.check_text(src).errors


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- gather

@pytest.mark.parametrize("axis, index", [
    (1, [[0, 4, 4, 2], [1, 0, 3, 3], [4, 4, 0, 1]]),           # first, last, repeats
    (-1, [[4, 0, 0, 4], [2, 2, 1, 3], [0, 1, 2, 3]]),
    (0, [[0, 2, 2, 1, 0], [2, 0, 1, 1, 2], [1, 1, 0, 2, 2]]),
    (1, [[3, 0], [4, 4]]),                                      # smaller than x off the axis
])
@pytest.mark.parametrize("itype", ["i64", "i32"])
def test_gather_against_torch_gather(axis, index, itype):
    x = _randn(3, 5)
    idx = np.asarray(index, dtype=NP[itype])
    model = _model({"x": "f32[3, 5]", "i": f"{itype}{list(idx.shape)}"},
                   f"    output y = gather(x, i, axis={axis})")
    want = torch.gather(torch.from_numpy(x), axis, torch.from_numpy(idx).long()).numpy()
    assert _ir_types(model) == [(idx.shape, "f32")]
    _against(model, [x, idx], [want])


def test_gather_integer_data_and_symbolic_parity():
    model = _model({"x": "i64[N, T, 10]", "i": "i64[N, T, 4]"}, "    output y = gather(x, i, 2)")
    assert str(model.outputs[0].type) == "i64[N, T, 4]"
    parity(model, {"N": 2, "T": 5})      # index values are drawn in [0, 10)
    parity(model, {"N": 3, "T": 7})


def test_gather_float_index_is_located():
    errs = _errors("model M {\n input x: f32[2, 3]\n input i: f32[2, 3]\n"
                   " output y = gather(x, i, axis=1)\n}")
    assert [e.code for e in errs] == ["E306"]
    e = errs[0]
    assert e.span.line == 4 and "integer" in e.message
    assert e.got == "f32[2, 3]" and "integer tensor" in e.expected


def test_gather_index_rank_and_sizes():
    errs = _errors("model M {\n input x: f32[2, 3]\n input i: i64[2]\n output y = gather(x, i, 1)\n}")
    assert [e.code for e in errs] == ["E301"] and errs[0].expected == "a rank-2 index"
    errs = _errors("model M {\n input x: f32[2, 3]\n input i: i64[4, 3]\n output y = gather(x, i, 1)\n}")
    assert [e.code for e in errs] == ["E303"] and (errs[0].expected, errs[0].got) == ("at most 2", "4")


# ---------------------------------------------------------------- index_select

@pytest.mark.parametrize("axis, index", [(1, [0, 5, 5, 2, 0]), (0, [3, 0, 3]), (-1, [5]),
                                         (1, [5, 4, 3, 2, 1, 0, 0])])
@pytest.mark.parametrize("itype", ["i64", "i32"])
def test_index_select_against_torch(axis, index, itype):
    x = _randn(4, 6)
    idx = np.asarray(index, dtype=NP[itype])
    model = _model({"x": "f32[4, 6]", "i": f"{itype}[{len(index)}]"},
                   f"    output y = index_select(x, i, axis={axis})")
    want = torch.index_select(torch.from_numpy(x), axis, torch.from_numpy(idx).long()).numpy()
    assert _ir_types(model) == [(want.shape, "f32")]
    _against(model, [x, idx], [want])


def test_index_select_symbolic_parity():
    # a rank-2 index, flattened: the drawn values lie in [0, 10), axis 2 has 10 entries
    model = _model({"x": "f32[N, T, 10]", "i": "i64[2, 3]"},
                   "    output y = index_select(x, i -> reshape(6), axis=2)")
    assert str(model.outputs[0].type) == "f32[N, T, 6]"
    parity(model, {"N": 2, "T": 5})
    parity(model, {"N": 3, "T": 7})


def test_index_select_needs_a_1d_integer_index():
    errs = _errors("model M {\n input x: f32[4, 6]\n input i: i64[2, 2]\n"
                   " output y = index_select(x, i, axis=1)\n}")
    assert [e.code for e in errs] == ["E301"] and errs[0].span.line == 4
    errs = _errors("model M {\n input x: f32[4, 6]\n input i: f32[2]\n"
                   " output y = index_select(x, i, axis=1)\n}")
    assert [e.code for e in errs] == ["E306"]


# ---------------------------------------------------------------- slice

@pytest.mark.parametrize("start, end, step, axis", [
    (1, 5, 1, 1), (-3, -1, 1, 1), (0, 8, 3, 1), (2, 100, 1, 1), (-100, 3, 1, 1), (-1, 8, 1, 1),
    (1, -1, 2, 1), (0, 1, 1, 0), (-2, 3, 1, 0), (7, 8, 5, -1),
])
def test_slice_against_python_slicing(start, end, step, axis):
    x = _randn(3, 8)
    model = _model({"x": "f32[3, 8]"},
                   f"    output y = x -> slice({start}, {end}, axis={axis}, step={step})")
    want = x[start:end:step] if axis == 0 else x[:, start:end:step]
    assert _ir_types(model) == [(want.shape, "f32")]
    _against(model, [x], [want])


SYMBOLIC_SLICES = [  # (spec bounds, IR type, python slice of axis 1 at T)
    ("1, T", "f32[N, T - 1, 4]", lambda T: slice(1, T)),
    ("0, T - 1", "f32[N, T - 1, 4]", lambda T: slice(0, T - 1)),
    ("-2, T", "f32[N, 2, 4]", lambda T: slice(-2, T)),
    ("1, -1", "f32[N, T - 2, 4]", lambda T: slice(1, -1)),
    ("0, T + 3", "f32[N, T, 4]", lambda T: slice(0, T + 3)),       # clamped as Python does
    ("2, T // 2 + 2", "f32[N, T // 2, 4]", lambda T: slice(2, T // 2 + 2)),
    ("0, T, step=2", "f32[N, (T + 1) // 2, 4]", lambda T: slice(0, T, 2)),
]


@pytest.mark.parametrize("bounds, ir, py", SYMBOLIC_SLICES, ids=[s[0] for s in SYMBOLIC_SLICES])
def test_slice_with_symbolic_bounds(bounds, ir, py):
    model = _model({"x": "f32[N, T, 4]"}, f"    output y = x -> slice({bounds}, axis=1)",
                   where="where T >= 3")
    assert str(model.outputs[0].type) == ir
    for env in ({"N": 2, "T": 5}, {"N": 3, "T": 8}):
        x = _randn(env["N"], env["T"], 4, seed=env["T"])
        _against(model, [x], [x[:, py(env["T"])]])
        parity(model, env)


def test_slice_of_integers_keeps_the_dtype():
    model = _model({"x": "i64[N, 6]"}, "    output y = x -> slice(-4, -1, axis=1)")
    x = np.arange(12, dtype=np.int64).reshape(2, 6)
    _against(model, [x], [x[:, -4:-1]])


@pytest.mark.parametrize("bounds, shape", [("3, 1, axis=1", "N, 4"), ("5, 8, axis=1", "N, 4"),
                                           ("-1, T - 1, axis=1", "N, T"), ("2, 2, axis=0", "4, 4")])
def test_empty_slice_is_located(bounds, shape):
    errs = _errors(f"model M {{\n input x: f32[{shape}]\n output y = x -> slice({bounds})\n}}")
    assert [e.code for e in errs] == ["E303"]
    e = errs[0]
    assert e.span.line == 3 and "empty" in e.message
    assert e.expected == "at least one element" and "selects none" in e.got


def test_slice_that_may_be_empty_needs_a_where():
    errs = _errors("model M {\n input x: f32[N, T]\n output y = x -> slice(1, T, axis=1)\n}")
    assert [e.code for e in errs] == ["E303"] and "T >= 2" in errs[0].message


def test_slice_step_must_be_positive():
    errs = _errors("model M {\n input x: f32[N, 4]\n output y = x -> slice(3, 0, axis=1, step=-1)\n}")
    assert [e.code for e in errs] == ["E205"]


# ---------------------------------------------------------------- topk

def _distinct(*shape, seed=0):
    """Values without ties: a random permutation of 0.5 * (0, 1, 2, ...)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.5 - 3).reshape(shape).astype(np.float32)


@pytest.mark.parametrize("args, axis, largest", [
    ("3", -1, True), ("3, largest=false", -1, False), ("2, axis=0", 0, True),
    ("6", -1, True), ("1, 1, largest=false", 1, False), ("4, sorted=false", -1, True),
])
def test_topk_against_torch_topk(args, axis, largest):
    x = _distinct(3, 6)
    k = int(args.split(",")[0])
    model = _model({"x": "f32[3, 6]"}, f"    v, i = x -> topk({args})\n    output y = v\n"
                                        "    output idx = i")
    want_v, want_i = torch.topk(torch.from_numpy(x), k, dim=axis, largest=largest, sorted=True)
    assert _ir_types(model) == [(tuple(want_v.shape), "f32"), (tuple(want_i.shape), "i64")]
    _against(model, [x], [want_v.numpy(), want_i.numpy()])


def test_topk_symbolic_parity_and_k():
    model = _model({"x": "f32[N, T, 5]"},
                   "    v, i = x -> topk(T - 1, axis=1)\n    output y = v\n    output idx = i",
                   where="where T >= 2")
    assert [str(p.type) for p in model.outputs] == ["f32[N, T - 1, 5]", "i64[N, T - 1, 5]"]
    for env in ({"N": 2, "T": 5}, {"N": 3, "T": 7}):
        x = _distinct(env["N"], env["T"], 5, seed=env["T"])
        v, i = torch.topk(torch.from_numpy(x), env["T"] - 1, dim=1)
        _against(model, [x], [v.numpy(), i.numpy()])
        parity(model, env)


def test_topk_k_too_large_is_located():
    errs = _errors("model M {\n input x: f32[N, 4]\n v, i = x -> topk(5)\n output y = v\n}")
    assert [e.code for e in errs] == ["E303"]
    e = errs[0]
    assert e.span.line == 3 and (e.expected, e.got) == ("k <= 4", "k = 5")
    errs = _errors("model M {\n input x: f32[N, T]\n v, i = x -> topk(T + 1, axis=1)\n output y = v\n}")
    assert [e.code for e in errs] == ["E303"]


# ---------------------------------------------------------------- one_hot

@pytest.mark.parametrize("dtype", [None, "f32", "f64", "i32", "bool", "f16"])
@pytest.mark.parametrize("itype", ["i64", "i32"])
def test_one_hot_against_f_one_hot(dtype, itype):
    x = np.asarray([[0, 4, 4, 2, 1], [3, 0, 4, 2, 2]], dtype=NP[itype])   # 0 and 4 = C - 1
    arg = f", dtype={dtype}" if dtype else ""
    model = _model({"x": f"{itype}[2, 5]"}, f"    output y = x -> one_hot(5{arg})")
    want = F.one_hot(torch.from_numpy(x).long(), 5).numpy().astype(NP[dtype or "i64"])
    assert _ir_types(model) == [((2, 5, 5), dtype or "i64")]
    _against(model, [x], [want])


def test_one_hot_symbolic_parity():
    model = _model({"x": "i64[N, T]"}, "    output y = x -> one_hot(10, dtype=f32) -> dense(3)")
    assert str(model.outputs[0].type) == "f32[N, T, 3]"
    parity(model, {"N": 2, "T": 5})
    parity(model, {"N": 3, "T": 7})


def test_one_hot_follows_the_model_dtype():
    model = _model({"x": "i64[N, 3]"}, "    output y = x -> one_hot(4, dtype=f32)").with_dtype("f16")
    assert str(model.outputs[0].type) == "f16[N, 3, 4]"
    x = np.asarray([[0, 3, 3]], dtype=np.int64)
    _against(model, [x], [np.eye(4, dtype=np.float16)[x]])


def test_one_hot_needs_integers():
    errs = _errors("model M {\n input x: f32[N, 3]\n output y = x -> one_hot(4)\n}")
    assert [e.code for e in errs] == ["E306"] and errs[0].span.line == 3
    errs = _errors("model M {\n input x: i64[N, 3]\n output y = x -> one_hot(0)\n}")
    assert [e.code for e in errs] == ["E205"]


# ---------------------------------------------------------------- cumsum

@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64", "i32"])
def test_cumsum_against_numpy(axis, dtype):
    rng = np.random.default_rng(axis + 5)
    x = (rng.integers(-5, 6, size=(3, 5)) if dtype.startswith("i") else
         rng.standard_normal((3, 5))).astype(NP[dtype])
    model = _model({"x": f"{dtype}[3, 5]"}, f"    output y = x -> cumsum({axis})")
    want = np.cumsum(x, axis=axis, dtype=NP[dtype])
    assert _ir_types(model) == [((3, 5), dtype)]
    _against(model, [x], [want], atol=1e-5)
    if dtype == "f32":   # and torch's own
        np.testing.assert_allclose(want, torch.cumsum(torch.from_numpy(x), axis).numpy(), atol=1e-5)


def test_cumsum_symbolic_parity():
    model = _model({"x": "f32[N, T, 4]"}, "    output y = x -> dense(4) -> cumsum(1)")
    parity(model, {"N": 2, "T": 5})
    parity(model, {"N": 3, "T": 7})


def test_cumsum_dtypes():
    errs = _errors("model M {\n input x: bool[N, 3]\n output y = x -> cumsum(1)\n}")
    assert [e.code for e in errs] == ["E306"] and errs[0].span.line == 3
    errs = _errors("model M {\n input x: f32[N, 3]\n output y = x -> cumsum(2)\n}")
    assert [e.code for e in errs] == ["E205"]


def test_indexing_ops_count_no_macs():
    model = _model({"x": "f32[N, 6]", "i": "i64[N, 6]"},
                   "    output a = gather(x, i, 1)\n    output b = x -> slice(1, 4, axis=1)\n"
                   "    output c = x -> cumsum(1)")
    assert all(n.macs() == 0 for n in model.nodes)
