"""matmul (`@`) and einsum: values against torch.matmul / torch.einsum on the same inputs, in
both backends (dslc's torch module and its ONNX graph on onnxruntime); parity at two values of
each symbolic dim; output types; MACs against hand counts; located diagnostics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from support import parity, random_weights, run_ort, run_torch

NP = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64, "i32": np.int32}


def _model(inputs: dict[str, str], expr: str):
    """A model `M` with the given typed inputs and one output y = expr."""
    decl = "\n".join(f"    input {k}: {t}" for k, t in inputs.items())
    return dslc.load(f"model M {{\n{decl}\n    output y = {expr}\n}}").models["M"]


def _draw(shape, dtype, rng):
    if dtype.startswith("i"):
        return rng.integers(-4, 5, size=shape).astype(NP[dtype])
    return rng.standard_normal(shape).astype(NP[dtype])


def _both(model, xs):
    """Outputs of dslc's torch module and of onnxruntime on its ONNX graph."""
    weights = random_weights(model)
    return run_torch(model, weights, xs), run_ort(model, weights, xs)[0]


def _against(model, xs, want, atol=1e-5):
    """Both backends' first output against the oracle `want`: shape, dtype and values."""
    t, o = _both(model, xs)
    worst = 0.0
    for name, got in (("torch", t[0]), ("onnxruntime", o[0])):
        assert got.shape == want.shape, (name, got.shape, want.shape)
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
        assert diff <= atol, f"{name} differs from the oracle by {diff}"
        worst = max(worst, diff)
    return worst


def _ir_shape(model):
    return tuple(d.value for d in model.outputs[0].type.shape)


def _errors(src):
    return dslc.check_text(src).errors


# ---------------------------------------------------------------- matmul

MATMUL = [  # (a shape, b shape, dtype, hand-counted MACs)
    ((2, 1, 3, 4), (5, 4, 6), "f32", 2 * 5 * 3 * 4 * 6),    # batch [2, 1] x [5] -> [2, 5]
    ((3, 4), (4, 5), "f32", 3 * 4 * 5),
    ((4,), (4,), "f32", 4),                                  # dot product -> a scalar
    ((4,), (2, 4, 3), "f32", 2 * 4 * 3),                     # [4] as [1, 4], the 1 dropped
    ((2, 3, 4), (4,), "f32", 2 * 3 * 4),                     # [4] as [4, 1], the 1 dropped
    ((1, 3, 4), (2, 4, 2), "f64", 2 * 3 * 4 * 2),
    ((2, 3), (3, 4), "i64", 2 * 3 * 4),
]


@pytest.mark.parametrize("a, b, dtype, macs", MATMUL, ids=lambda v: str(v))
def test_matmul_against_torch_matmul(a, b, dtype, macs):
    rng = np.random.default_rng(len(a) * 10 + len(b))
    xa, xb = _draw(a, dtype, rng), _draw(b, dtype, rng)
    model = _model({"a": f"{dtype}{list(a)}", "b": f"{dtype}{list(b)}"}, "a @ b")
    want = torch.matmul(torch.from_numpy(xa), torch.from_numpy(xb)).numpy()
    assert model.nodes[0].kind == "matmul"
    assert _ir_shape(model) == want.shape and model.outputs[0].type.dtype == dtype
    _against(model, [xa, xb], want, atol=1e-5 if dtype != "i64" else 0)
    assert model.nodes[0].macs() == macs


def test_matmul_broadcast_batch_shape_and_call_form():
    model = _model({"a": "f32[2, 1, 3, 4]", "b": "f32[5, 4, 6]"}, "matmul(a, b)")
    assert str(model.outputs[0].type) == "f32[2, 5, 3, 6]"


def test_matmul_symbolic_parity_and_macs():
    model = _model({"a": "f32[N, T, 8]", "b": "f32[N, 8, S]"}, "a @ b")
    assert str(model.outputs[0].type) == "f32[N, T, S]"
    node = model.nodes[0]
    for env in ({"N": 2, "T": 5, "S": 3}, {"N": 3, "T": 7, "S": 6}):
        parity(model, env)
        assert node.macs().evaluate(env) == env["N"] * env["T"] * 8 * env["S"]


def test_matmul_symbolic_broadcast_and_vector_parity():
    model = _model({"a": "f32[N, T, 8]", "b": "f32[1, 8, 3]", "v": "f32[3]"}, "(a @ b) @ v")
    assert str(model.outputs[0].type) == "f32[N, T]"
    parity(model, {"N": 2, "T": 5})
    parity(model, {"N": 3, "T": 7})


def test_matmul_in_half_precision():
    model = _model({"a": "f32[N, 3, 4]", "b": "f32[4, 5]"}, "a @ b").with_dtype("f16")
    rng = np.random.default_rng(1)
    xa, xb = _draw((2, 3, 4), "f16", rng), _draw((4, 5), "f16", rng)
    want = (xa.astype(np.float32) @ xb.astype(np.float32)).astype(np.float16)
    _against(model, [xa, xb], want, atol=1e-2)


def test_matmul_inner_sizes_disagree():
    errs = _errors("model M {\n input a: f32[N, 2, 3]\n input b: f32[4, 5]\n output y = a @ b\n}")
    assert [e.code for e in errs] == ["E302"]
    e = errs[0]
    assert e.span.line == 4
    assert "[N, 2, 3]" in e.message and "[4, 5]" in e.message and "3 vs 4" in e.message
    assert e.expected == "a second operand like [3, 5]" and e.got == "[4, 5]"


def test_matmul_symbolic_inner_sizes_disagree():
    errs = _errors("model M {\n input a: f32[N, D]\n input b: f32[E, 5]\n output y = a @ b\n}")
    assert [e.code for e in errs] == ["E302"] and "D vs E" in errs[0].message


def test_matmul_vector_inner_size_disagrees():
    errs = _errors("model M {\n input a: f32[2, 3]\n input v: f32[4]\n output y = a @ v\n}")
    assert [e.code for e in errs] == ["E302"] and errs[0].expected == "a second operand like [3]"


def test_matmul_batch_axes_must_broadcast():
    errs = _errors("model M {\n input a: f32[2, 2, 3]\n input b: f32[3, 3, 5]\n output y = a @ b\n}")
    assert [e.code for e in errs] == ["E302"] and "batch axes" in errs[0].message
    assert errs[0].span.line == 4


def test_matmul_dtypes():
    errs = _errors("model M {\n input a: f32[2, 3]\n input b: f64[3, 5]\n output y = a @ b\n}")
    assert [e.code for e in errs] == ["E306"] and (errs[0].expected, errs[0].got) == ("f32", "f64")
    errs = _errors("model M {\n input a: bool[2, 3]\n input b: bool[3, 5]\n output y = a @ b\n}")
    assert [e.code for e in errs] == ["E306"]


# ---------------------------------------------------------------- einsum

EINSUM = [  # (equation, input shapes, hand-counted MACs: product of all distinct letter sizes)
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 2 * 3 * 4 * 5),
    ("ij,jk", [(3, 4), (4, 5)], 3 * 4 * 5),                  # implicit: -> ik
    ("ba,ac", [(3, 4), (4, 5)], 3 * 4 * 5),                  # implicit: -> bc (alphabetical)
    ("Ab,bC", [(3, 4), (4, 5)], 3 * 4 * 5),                  # capitals: implicit -> AC
    ("ij->ji", [(3, 4)], 3 * 4),
    ("ii->i", [(4, 4)], 4),                                   # a diagonal
    ("ij->", [(3, 4)], 3 * 4),
    ("i,j->ij", [(3,), (5,)], 3 * 5),
    ("bij,bjk,bkl->bil", [(2, 3, 4), (2, 4, 5), (2, 5, 6)], 2 * 3 * 4 * 5 * 6),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)], 2 * 5 * 3 * 4 * 6),   # `...` broadcast
    ("b...d,d->b...", [(2, 3, 4, 5), (5,)], 2 * 3 * 4 * 5),
    ("b...d,d", [(2, 3, 4, 5), (5,)], 2 * 3 * 4 * 5),            # implicit: `...` first
    (" ij , jk -> ki ", [(3, 4), (4, 5)], 3 * 4 * 5),        # spaces are ignored
]


@pytest.mark.parametrize("eq, shapes, macs", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_against_torch_einsum(eq, shapes, macs):
    rng = np.random.default_rng(len(eq))
    xs = [_draw(s, "f32", rng) for s in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    model = _model({n: f"f32{list(s)}" for n, s in zip(names, shapes)},
                   f"({', '.join(names)},) -> einsum(\"{eq}\")")
    want = torch.einsum(eq, *[torch.from_numpy(x) for x in xs]).numpy()
    assert _ir_shape(model) == want.shape and model.outputs[0].type.dtype == "f32"
    _against(model, xs, want, atol=1e-4)
    assert model.nodes[0].macs() == macs


@pytest.mark.parametrize("call", ['einsum("ij,jk->ik", a, b)', 'einsum(a, b, "ij,jk->ik")',
                                  '(a, b) -> einsum("ij,jk->ik")'])
def test_einsum_call_forms_on_integers(call):
    model = _model({"a": "i64[2, 3]", "b": "i64[3, 4]"}, call)
    assert str(model.outputs[0].type) == "i64[2, 4]"
    rng = np.random.default_rng(3)
    xa, xb = _draw((2, 3), "i64", rng), _draw((3, 4), "i64", rng)
    _against(model, [xa, xb], np.einsum("ij,jk->ik", xa, xb), atol=0)


def test_einsum_symbolic_parity_and_macs():
    model = _model({"q": "f32[N, T, 8]", "k": "f32[N, S, 8]"}, 'einsum(q, k, "ntd,nsd->nts")')
    assert str(model.outputs[0].type) == "f32[N, T, S]"
    for env in ({"N": 2, "T": 5, "S": 3}, {"N": 3, "T": 7, "S": 6}):
        parity(model, env)
        assert model.nodes[0].macs().evaluate(env) == env["N"] * env["T"] * env["S"] * 8


def test_einsum_symbolic_ellipsis_parity():
    model = _model({"x": "f32[N, T, 8]", "w": "f32[8, 3]"}, '(x, w) -> einsum("...d,de->...e")')
    assert str(model.outputs[0].type) == "f32[N, T, 3]"
    parity(model, {"N": 2, "T": 5})
    parity(model, {"N": 3, "T": 7})


def test_einsum_letters_disagree():
    errs = _errors('model M {\n input a: f32[2, 3]\n input b: f32[4, 5]\n'
                   ' output y = einsum(a, b, "ij,jk->ik")\n}')
    assert [e.code for e in errs] == ["E302"]
    e = errs[0]
    assert e.span.line == 4
    assert "`j`" in e.message and "input 1" in e.message and "input 2" in e.message
    assert (e.expected, e.got) == ("`j` = 3", "`j` = 4")


def test_einsum_wrong_number_of_letters():
    errs = _errors('model M {\n input a: f32[2, 3, 4]\n input b: f32[3, 5]\n'
                   ' output y = (a, b) -> einsum("ij,jk->ik")\n}')
    assert [e.code for e in errs] == ["E301"]
    e = errs[0]
    assert e.span.line == 4 and "input 1" in e.message
    assert e.expected == "rank 2 for `ij`" and e.got == "rank-3 [2, 3, 4]"


@pytest.mark.parametrize("eq, code, fragment", [
    ("ij->ik", "E205", "`k` appears in no input"),
    ("ij->ii", "E205", "appears twice in the output"),
    ("...ij->ij", "E205", "not in the output"),
    ("i-j->ij", "E205", "subscripts are the letters"),
    ("ij,jk->ik", "E208", "2 input group(s)"),
])
def test_einsum_bad_equations(eq, code, fragment):
    errs = _errors(f'model M {{\n input a: f32[2, 3]\n output y = a -> einsum("{eq}")\n}}')
    assert [e.code for e in errs] == [code] and fragment in errs[0].message
    assert errs[0].span.line == 3


def test_einsum_diagonal_sizes_disagree_and_dtypes():
    errs = _errors('model M {\n input a: f32[2, 3]\n output y = a -> einsum("ii->i")\n}')
    assert [e.code for e in errs] == ["E302"] and "another axis of input 1" in errs[0].message
    errs = _errors('model M {\n input a: f32[2, 3]\n input b: f64[3, 4]\n'
                   ' output y = einsum(a, b, "ij,jk")\n}')
    assert [e.code for e in errs] == ["E306"]
