"""Sizes computed at run time (issue 19, "what checks, compiles"; Dim.fold, the walk the
lowerings share, is tested in test_dims.py): the model inputs the elaborator appends to carry
the symbols; the four cases of the issue (specs/ops/runtime_sizes.dl) in torch and
onnxruntime against oracles written without dslc (NumPy, torch.nn.functional); E304 where no
input can carry a symbol; and a property test: generated reshape chains and expands over
symbolic sizes, with `where` divisibility, compute NumPy's result in both backends."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dslc
from specfiles import SPECS, envs
from support import concrete, make_inputs, random_weights, run_ort, run_torch

SPEC = SPECS / "ops" / "runtime_sizes.dl"


# ---- the four cases of the issue ----
def _window_oracle(x):
    """Swin's windows, one 4x4 block at a time."""
    n, h, w, c = x.shape
    return np.stack([x[b, 4 * i:4 * i + 4, 4 * j:4 * j + 4] for b in range(n)
                     for i in range(h // 4) for j in range(w // 4)])


def _group_norm_oracle(x):
    import torch
    return torch.nn.functional.group_norm(torch.from_numpy(x), 2, eps=1e-5).numpy()


ORACLES = {
    "SliceParam": lambda xs, w, env: w["param_1.weight"][2:env["S"] + 2],
    "GroupNorm": lambda xs, w, env: _group_norm_oracle(xs[0]),
    "Window": lambda xs, w, env: _window_oracle(xs[0]),
    "Fold8": lambda xs, w, env: np.maximum(xs[0], 0),
}


@pytest.mark.parametrize("name", list(ORACLES))
def test_issue_cases_against_oracles(name):
    model = dslc.load(SPEC).models[name]
    weights = random_weights(model)
    for seed, env in enumerate(envs(model, SPEC)):
        xs = make_inputs(model, env, seed)
        want = ORACLES[name](xs, weights, env)
        assert want.shape == concrete(model.outputs[0].type.shape, env)
        (t,), ((o,), _) = run_torch(model, weights, xs), run_ort(model, weights, xs)
        np.testing.assert_allclose(t, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(o, want, rtol=1e-5, atol=1e-5)


def test_the_carriers_are_model_inputs_the_layer_lacked():
    program = dslc.load(SPEC)
    assert [n.inputs for n in program.models["SliceParam"].nodes] == [(), ("param_1", "ids")]
    fold = program.models["Fold8"].nodes
    assert fold[0].inputs == ("x",) and fold[-1].inputs == ("relu_1", "x")


def test_a_scan_cell_reads_its_sizes_from_its_step():
    """Inside a cell the carrier is the step [N, A, B] (the body sees no model input): the
    round trip through [N, A*B] gives relu(x) at every step, in both backends."""
    src = ("block Cell(x: [N, A, B], h: [N, 4]) {\n"
           "    return x -> reshape(N, A * B) -> relu -> reshape(N, A, B), h\n}\n"
           "model M {\n    input x: f32[N, T, H, W]\n    output y = x -> scan(Cell)\n}\n")
    model = dslc.check_text(src).models["M"]
    assert model.nodes[0].op.body.nodes[-1].inputs[1:] == ("scan_1.step",)
    for seed, env in enumerate(({"N": 2, "T": 3, "H": 2, "W": 5}, {"N": 1, "T": 2, "H": 3, "W": 4})):
        xs = make_inputs(model, env, seed)
        (t,), ((o,), _) = run_torch(model, {}, xs), run_ort(model, {}, xs)
        np.testing.assert_array_equal(t, np.maximum(xs[0], 0))
        np.testing.assert_array_equal(o, np.maximum(xs[0], 0))


def test_no_input_of_a_scan_body_carries_the_symbol():
    """Inside a cell only the step and the states exist: F / 2 = H needs H, which the step
    [N, 2*H] has only as a product, so `check` refuses it at the slice (never the backend)."""
    src = ("block Half(x: [N, F], h: [N, 4]) {\n"
           "    return x -> slice(0, F / 2, axis=1) -> mean(axis=1, keepdim=true), h\n}\n"
           "model M {\n    input x: f32[N, T, H]\n"
           "    output y = concat(x, x, axis=2) -> scan(Half)\n}\n")
    (err,) = dslc.check_text(src).errors
    assert err.code == "E304" and err.span.line == 2 and "`H`" in err.message


# ---- property: generated specs over symbolic sizes ----
SYMS = {"H": (1, 2, 4), "W": (1, 2, 4), "C": (1, 2)}


@st.composite
def reshaping_specs(draw):
    """(spec text, envs, oracle(x, env) -> expected y): x: f32[N, ...] with `where S % m == 0`
    facts; y regroups x's factors (N, S/m and m for each symbol S, small primes) into 1-4
    dims, once or twice with a relu between, or expands a [1, 1] parameter to such dims."""
    syms = draw(st.lists(st.sampled_from(sorted(SYMS)), min_size=1, max_size=3, unique=True))
    mods = {s: draw(st.sampled_from(SYMS[s])) for s in syms}
    consts = draw(st.lists(st.sampled_from([2, 3]), max_size=2))
    dims = ["N"] + syms + [str(c) for c in consts]
    order = draw(st.permutations(dims[1:]))
    factors = ["N"] + [f for s in syms for f in ((f"{s} / {mods[s]}", str(mods[s]))
                                                    if mods[s] > 1 else (s,))] + [str(c) for c in consts]
    where = ", ".join(f"{s} % {m} == 0" for s, m in mods.items() if m > 1)
    head = f"    input x: f32[N, {', '.join(order)}]" + (f" where {where}" if where else "")
    targets = [_regroup(draw, factors) for _ in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        sizes = _regroup(draw, factors, hole=False)
        sizes = sizes if len(sizes) > 1 else ["2"] + sizes      # [1, 1] takes two or more
        body = f"    output y = param([1, 1]) -> expand({', '.join(sizes)})"
        oracle = lambda x, w, env: np.broadcast_to(w["param_1.weight"], _sizes(sizes, env))
    else:
        chain = " -> relu -> ".join(f"reshape({', '.join(t)})" for t in targets)
        body = f"    output y = x -> {chain}"
        relu = len(targets) > 1
        oracle = lambda x, w, env: (np.maximum(x, 0) if relu else x).reshape(_sizes(targets[-1], env))
    spec = "model Gen {\n" + head + "\n" + body + "\n}\n"
    envs = [{"N": n, **{s: m * k for s, m in mods.items()}} for n, k in ((2, 1), (3, 3))]
    return spec, envs, oracle


def _regroup(draw, factors: list[str], hole: bool = True) -> list[str]:
    """The factors shuffled into 1-4 groups (each a product), one of them -1 at times."""
    shuffled = draw(st.permutations(factors))
    cuts = sorted(draw(st.sets(st.integers(1, len(factors) - 1), max_size=3))) if len(factors) > 1 else []
    groups = [" * ".join(shuffled[a:b]) for a, b in zip([0] + cuts, cuts + [len(factors)])]
    if hole and draw(st.booleans()):
        groups[draw(st.integers(0, len(groups) - 1))] = "-1"
    return groups


def _sizes(groups: list[str], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(int(eval(g.replace("/", "//"), {}, dict(env))) for g in groups)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(reshaping_specs())
def test_generated_runtime_sizes_compute_numpys_result(case):
    spec, env_pair, oracle = case
    program = dslc.check_text(spec, "gen.dl")
    assert not program.errors, (spec, [d.short() for d in program.errors])
    model = program.models["Gen"]
    weights = random_weights(model)
    for seed, env in enumerate(env_pair):
        xs = make_inputs(model, env, seed)
        want = oracle(xs[0], weights, env)
        (t,), ((o,), _) = run_torch(model, weights, xs), run_ort(model, weights, xs)
        np.testing.assert_array_equal(t, want, err_msg=spec)
        np.testing.assert_array_equal(o, want, err_msg=spec)
