"""Shaping ops (expand, unsqueeze, squeeze, repeat_interleave, tile, stack): values against
torch's own functions on the same inputs (an oracle independent of dslc's lowerings), for the
torch module and onnxruntime alike; IR output types written out by hand; torch-vs-onnxruntime
parity at two values of each symbolic dim; located diagnostics for the shape errors."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from dslc.ir.dims import Dim
from dslc.ir.core import tensor
from dslc.ops.base import ShapeError
from support import concrete, make_inputs, parity, run_ort, run_torch


def _load(inputs: str, expr: str):
    return dslc.load(f"model M {{\n{inputs}\n output y = {expr}\n}}").models["M"]


def _stack(dim=0):
    def oracle(*args):
        import torch
        *xs, env = args
        return torch.stack(xs, dim=dim)
    return oracle


# (input declarations, output expression, oracle on the input tensors and the env, the output
#  type as the shape rule must give it (by hand), two envs for the symbolic dims)
NT = ({"N": 2, "T": 3}, {"N": 3, "T": 5})
CASES = [
    # expand: the size N read from x, which the elaborator appends (p lacks N) ...
    ("input p: f32[1, 4]\n input x: f32[N, 3]", "p -> expand(N, 4)",
     lambda p, x, env: p.expand(env["N"], 4), "f32[N, 4]", NT),
    # ... or given explicitly after the expanded tensor
    ("input p: f32[1, 4]\n input x: f32[N, 3]", "expand(p, x, N, 4)",
     lambda p, x, env: p.expand(env["N"], 4), "f32[N, 4]", NT),
    # new leading axes, -1 keeping a symbolic axis, a size-1 axis growing to a number
    ("input p: f32[T, 1]\n input x: f32[N, 7]", "p -> expand(N, 2, -1, 5)",
     lambda p, x, env: p.expand(env["N"], 2, -1, 5), "f32[N, 2, T, 5]", NT),
    # a polynomial size, computed at run time
    ("input q: f32[1, 3]\n input x: f32[N, T]", "q -> expand(2 * N + T, 3)",
     lambda q, x, env: q.expand(2 * env["N"] + env["T"], 3), "f32[2*N + T, 3]", NT),
    # two new leading axes, a dtype other than f32
    ("input s: f64[1]\n input x: f64[N, T]", "s -> expand(T, N, 2)",
     lambda s, x, env: s.expand(env["T"], env["N"], 2), "f64[T, N, 2]", NT),
    # unsqueeze: negative axes count in the output's rank
    ("input x: f32[N, 3, T]", "x -> unsqueeze(0)",
     lambda x, env: x.unsqueeze(0), "f32[1, N, 3, T]", NT),
    ("input x: f32[N, 3, T]", "x -> unsqueeze(-1)",
     lambda x, env: x.unsqueeze(-1), "f32[N, 3, T, 1]", NT),
    ("input x: f32[N, 3, T]", "x -> unsqueeze(-2)",
     lambda x, env: x.unsqueeze(-2), "f32[N, 3, 1, T]", NT),
    ("input x: f32[N, 3, T]", "x -> unsqueeze(2)",
     lambda x, env: x.unsqueeze(2), "f32[N, 3, 1, T]", NT),
    # squeeze: every known size-1 axis, one axis, several
    ("input x: f32[N, 1, T, 1]", "x -> squeeze",
     lambda x, env: x.squeeze(), "f32[N, T]", NT),
    ("input x: f32[N, 1, T, 1]", "x -> squeeze(1)",
     lambda x, env: x.squeeze(1), "f32[N, T, 1]", NT),
    ("input x: f32[N, 1, T, 1]", "x -> squeeze((1, -1))",
     lambda x, env: x.squeeze((1, 3)), "f32[N, T]", NT),
    # a symbolic axis that is 1 at run time stays (the IR says [N, T])
    ("input x: f32[N, 1, T]", "x -> squeeze",
     lambda x, env: x.squeeze(1), "f32[N, T]", ({"N": 1, "T": 3}, {"N": 3, "T": 1})),
    # repeat_interleave along an axis (a symbolic one too), and flattened without an axis
    ("input x: f32[N, T, 3]", "x -> repeat_interleave(2, axis=1)",
     lambda x, env: x.repeat_interleave(2, dim=1), "f32[N, 2*T, 3]", NT),
    ("input x: f32[N, T, 3]", "x -> repeat_interleave(3, axis=-1)",
     lambda x, env: x.repeat_interleave(3, dim=-1), "f32[N, T, 9]", NT),
    ("input x: f32[N, T, 3]", "x -> repeat_interleave(2, axis=0)",
     lambda x, env: x.repeat_interleave(2, dim=0), "f32[2*N, T, 3]", NT),
    ("input x: f32[N, T, 3]", "x -> repeat_interleave(2)",
     lambda x, env: x.repeat_interleave(2), "f32[6*N*T]", NT),
    ("input x: i64[N, T]", "x -> repeat_interleave(3, axis=1)",
     lambda x, env: x.repeat_interleave(3, dim=1), "i64[N, 3*T]", NT),
    # tile: padded reps, reps adding leading axes, a symbolic axis repeated
    ("input x: f32[N, T, 3]", "x -> tile(2)",
     lambda x, env: x.tile(2), "f32[N, T, 6]", NT),
    ("input x: f32[N, T, 3]", "x -> tile(1, 3, 1)",
     lambda x, env: x.tile(1, 3, 1), "f32[N, 3*T, 3]", NT),
    ("input x: f32[N, T, 3]", "x -> tile(2, 1, 2, 3)",
     lambda x, env: x.tile(2, 1, 2, 3), "f32[2, N, 2*T, 9]", NT),
    ("input x: i64[N, 2]", "x -> tile(3, 2)",
     lambda x, env: x.tile(3, 2), "i64[3*N, 4]", NT),
    # stack: a new axis of size the number of inputs
    ("input a: f32[N, T]\n input b: f32[N, T]\n input c: f32[N, T]", "stack(a, b, c)",
     _stack(), "f32[3, N, T]", NT),
    ("input a: f32[N, T]\n input b: f32[N, T]", "stack(a, b, axis=-1)",
     _stack(-1), "f32[N, T, 2]", NT),
    ("input a: f64[N, T]\n input b: f64[N, T]", "stack(a, b, axis=1)",
     _stack(1), "f64[N, 2, T]", NT),
    ("input a: f32[N, T]", "stack(a, axis=2)",
     _stack(2), "f32[N, T, 1]", NT),
]


@pytest.mark.parametrize("inputs, expr, oracle, want, envs", CASES, ids=[c[1] for c in CASES])
def test_values_against_torch_functions(inputs, expr, oracle, want, envs):
    import torch
    model = _load(inputs, expr)
    assert str(model.outputs[0].type) == want
    weights = model.weights()
    for seed, env in enumerate(envs):
        xs = make_inputs(model, env, seed)
        ref = oracle(*[torch.from_numpy(x) for x in xs], env).numpy()
        assert ref.shape == concrete(model.outputs[0].type.shape, env)
        (t,), ((o,), _) = run_torch(model, weights, xs), run_ort(model, weights, xs)
        for got in (t, o):
            assert got.shape == ref.shape and got.dtype == ref.dtype
            np.testing.assert_array_equal(got, ref)      # data movement: exact


@pytest.mark.parametrize("inputs, expr, oracle, want, envs", CASES, ids=[c[1] for c in CASES])
def test_torch_and_onnxruntime_agree(inputs, expr, oracle, want, envs):
    model = _load(inputs, expr)
    for env in envs:
        assert parity(model, env, atol=0.0) == 0.0


def test_expand_reads_its_sizes_from_an_appended_input():
    model = _load("input p: f32[1, 4]\n input x: f32[N, 3]", "p -> expand(N, 4)")
    (node,) = model.nodes
    assert node.inputs == ("p", "x")      # the elaborator's source for N
    proto = model.to_onnx()
    assert "Expand" in [n.op_type for n in proto.graph.node]


def test_expand_keeps_a_non_bare_input_dim_without_a_source():
    # the kept axis 2*T is never read at run time: -1 (torch) and 1 (ONNX Expand) keep it
    model = _load("input x: f32[1, T]\n input w: f32[1, 2*T]", "w -> expand(3, -1)")
    assert str(model.outputs[0].type) == "f32[3, 2*T]"
    for env in ({"T": 2}, {"T": 4}):
        parity(model, env, atol=0.0)


def test_onnx_graphs_pass_strict_shape_inference():
    import onnx
    for inputs, expr, *_ in CASES:
        onnx.shape_inference.infer_shapes(_load(inputs, expr).to_onnx(), strict_mode=True)


def test_no_parameters_and_no_macs():
    model = _load("input x: f32[N, T, 3]",
                  "x -> unsqueeze(1) -> tile(1, 2, 1, 1) -> squeeze -> repeat_interleave(2, axis=1)")
    assert str(model.outputs[0].type) == "f32[N, 4, T, 3]"
    assert model.params == 0 and all(n.macs() == 0 for n in model.nodes)
    assert [n.op.describe() for n in model.nodes] == [
        "unsqueeze(1)", "tile(1, 2, 1, 1)", "squeeze", "repeat_interleave(2, 1)"]
    assert _load("input p: f32[1, 4]\n input x: f32[N, 3]",
                 "p -> expand(N, -1)").nodes[0].op.describe() == "expand(N, -1)"


# ---- diagnostics: code, line, expected vs got ----
def _errors(inputs: str, line: str):
    src = f"model M {{\n{inputs}\n output y = {line}\n}}"
    errs = dslc.check_text(src).errors
    assert errs, "expected a diagnostic"
    return errs[0], src.count("\n", 0, src.index("output y")) + 1


def test_expanding_a_size_3_axis_to_5():
    e, line = _errors("input x: f32[N, 3]", "x -> expand(N, 5)")
    assert e.code == "E302" and e.span.line == line
    assert "axis 1" in e.message and "size 3" in e.message
    assert e.expected == "3 (or -1) at axis 1" and e.got == "5"


def test_expanding_a_symbolic_axis_to_another_size():
    e, line = _errors("input x: f32[N, T]", "x -> expand(N, 4)")
    assert e.code == "E302" and e.span.line == line and e.got == "4"


def test_expand_rank_and_bad_sizes():
    e, _ = _errors("input x: f32[N, 3]", "x -> expand(3)")
    assert e.code == "E301" and e.expected == "at least 2 sizes" and e.got == "1"
    e, _ = _errors("input x: f32[N, 3]", "x -> expand(-1, N, 3)")
    assert e.code == "E205" and "new leading axis" in e.message
    e, _ = _errors("input x: f32[N, 1]", "x -> expand(N, 0)")
    assert e.code == "E205" and e.got == "0"


def test_squeezing_an_axis_of_size_4():
    e, line = _errors("input x: f32[N, 4, 1]", "x -> squeeze(1)")
    assert e.code == "E302" and e.span.line == line
    assert e.expected == "size 1 at axis 1" and e.got == "4"


def test_squeezing_a_symbolic_axis():
    e, line = _errors("input x: f32[N, T, 1]", "x -> squeeze((1, 2))")
    assert e.code == "E304" and e.span.line == line and e.got == "T"
    e, _ = _errors("input x: f32[N, 1]", "x -> squeeze(2)")
    assert e.code == "E205"
    e, _ = _errors("input x: f32[N, 1]", "x -> squeeze((1, -1))")
    assert e.code == "E205" and "twice" in e.message


def test_stack_of_shapes_that_differ():
    e, line = _errors("input a: f32[N, 3]\n input b: f32[N, 4]", "stack(a, b)")
    assert e.code == "E302" and e.span.line == line
    assert e.expected == "[N, 3]" and e.got == "[N, 4]" and "axis 1" in e.message
    assert [n[0].line for n in e.notes] == [2, 3]       # where a and b come from


def test_stack_dtype_and_rank():
    e, _ = _errors("input a: f32[N, 3]\n input b: f64[N, 3]", "stack(a, b)")
    assert e.code == "E306" and e.expected == "f32" and e.got == "f64"
    e, _ = _errors("input a: f32[N, 3]\n input b: f32[N, 3, 1]", "stack(a, b)")
    assert e.code == "E301"
    e, _ = _errors("input a: f32[N, 3]", "stack(a, a, axis=3)")
    assert e.code == "E205" and "[-3, 2]" in e.expected


def test_a_negative_repeat():
    e, line = _errors("input x: f32[N, 3]", "x -> repeat_interleave(-2, axis=1)")
    assert e.code == "E205" and e.span.line == line
    assert e.expected == "an integer >= 1" and e.got == "-2"
    e, _ = _errors("input x: f32[N, 3]", "x -> repeat_interleave(2, axis=2)")
    assert e.code == "E205"


def test_tile_and_unsqueeze_bad_values():
    e, line = _errors("input x: f32[N, 3]", "x -> tile(2, 0)")
    assert e.code == "E205" and e.span.line == line and e.got == "(2, 0)"
    e, _ = _errors("input x: f32[N, 3]", "x -> unsqueeze(3)")
    assert e.code == "E205" and "[-3, 2]" in e.expected
