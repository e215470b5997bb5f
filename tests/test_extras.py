"""The output units and systems of 004 (after Goodfellow et al.) in specs/extras/, against
independent references: maxout against a NumPy slice-and-max (both backends, symbolic leading
dims at two sizes) and its divisibility error; the mixture of experts and the mixture density
head against plain-torch modules with the same weights; RBF units against the text's formula in
NumPy; the step perceptrons against their truth tables; the recurrent convolutional labeller
against a plain-torch loop, with one U, V, W whatever the number of iterations.
tests/test_specs.py adds the hand counts and torch-vs-onnxruntime parity of every spec here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dslc
from support import random_weights, run_ort, run_torch

EXTRAS = Path(__file__).resolve().parent.parent / "specs" / "extras"


def _program(name: str):
    return dslc.load(EXTRAS / f"{name}.dl")


def _both(model, w, xs):
    return run_torch(model, w, xs), run_ort(model, w, xs)[0]


def _t(a):
    return torch.from_numpy(np.asarray(a))


def _maxout_np(x: np.ndarray, k: int) -> np.ndarray:
    """Unit j is the largest of the features j*k .. j*k + k - 1 (the text's consecutive groups)."""
    units = x.shape[-1] // k
    return np.stack([x[..., j * k:(j + 1) * k].max(axis=-1) for j in range(units)], axis=-1)


# ---- maxout ----

def test_maxout_np_reference_groups_consecutive_features():
    x = np.array([[1.0, 5.0, 2.0, -1.0, -3.0, 0.5]], np.float32)
    assert _maxout_np(x, 3).tolist() == [[5.0, 0.5]]
    assert _maxout_np(x, 2).tolist() == [[5.0, 2.0, 0.5]]


@pytest.mark.parametrize("env", [{"N": 2, "T": 5}, {"N": 3, "T": 1}])
@pytest.mark.parametrize("k, width", [(3, 12), (4, 8), (1, 5)])
def test_maxout_values_with_symbolic_leading_dims(k, width, env):
    model = dslc.load(f"model M {{\n input x: f32[N, T, {width}]\n output y = x -> maxout({k})\n}}").model()
    assert str(model.outputs[0].type) == f"f32[N, T, {width // k}]"
    assert model.params == 0 and all(n.macs() == 0 for n in model.nodes)
    x = np.random.default_rng(env["T"] * 10 + k).standard_normal((env["N"], env["T"], width)).astype(np.float32)
    want = _maxout_np(x, k)
    for got in _both(model, {}, [x]):
        assert got[0].shape == want.shape
        np.testing.assert_array_equal(got[0], want)


@pytest.mark.parametrize("f", [6, 15])
def test_maxout_on_a_symbolic_width_divisible_by_k(f):
    model = dslc.load("model M {\n input x: f32[N, F] where F % 3 == 0\n output y = x -> maxout(3)\n}").model()
    assert str(model.outputs[0].type) == "f32[N, F/3]"
    x = np.random.default_rng(f).standard_normal((2, f)).astype(np.float32)
    for got in _both(model, {}, [x]):
        np.testing.assert_array_equal(got[0], _maxout_np(x, 3))


def test_maxout_in_f64_keeps_the_dtype():
    model = dslc.load("model M {\n input x: f64[N, 6]\n output y = x -> maxout(2)\n}").model()
    x = np.random.default_rng(4).standard_normal((3, 6))
    for got in _both(model, {}, [x]):
        assert got[0].dtype == np.float64
        np.testing.assert_array_equal(got[0], _maxout_np(x, 2))


@pytest.mark.parametrize("src, code, fragments", [
    ("input x: f32[N, 10]\n output y = x -> maxout(3)", "E305", ("F = 10", "k = 3")),
    ("input x: f32[N, F]\n output y = x -> maxout(4)", "E305", ("`F`", "k = 4")),
    ("input x: i64[N, 6]\n output y = x -> maxout(2)", "E306", ("floating",)),
    ("input x: f32[N, 6]\n output y = x -> maxout(0)", "E205", ("k >= 1",)),
    ("input x: f32[6]\n output y = x -> maxout(2)", "E301", ("rank",)),
])
def test_maxout_errors_are_located(src, code, fragments):
    errors = dslc.check_text(f"model M {{\n {src}\n}}").errors
    assert [(e.code, e.span.line) for e in errors] == [(code, 3)], errors
    assert all(f in errors[0].message for f in fragments), errors[0].message


def test_maxout_net_against_numpy():
    model = _program("maxout").models["MaxoutNet"]
    w = random_weights(model)
    x = np.random.default_rng(6).standard_normal((5, 10)).astype(np.float32)
    z = x @ w["dense_1.weight"].T + w["dense_1.bias"]                       # [5, 12]
    want = _maxout_np(z, 3) @ w["dense_2.weight"].T + w["dense_2.bias"]     # [5, 4] -> [5, 1]
    for got in _both(model, w, [x]):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n, t", [(2, 3), (4, 7)])
def test_maxout_seq_against_numpy(n, t):
    model = _program("maxout").models["MaxoutSeq"]
    w = random_weights(model)
    x = np.random.default_rng(t).standard_normal((n, t, 6)).astype(np.float32)
    z = x @ w["dense_1.weight"].T + w["dense_1.bias"]
    want = _maxout_np(z, 2) @ w["dense_2.weight"].T + w["dense_2.bias"]
    for got in _both(model, w, [x]):
        assert got[0].shape == (n, t, 2)
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)


# ---- mixture of experts ----

class _SoftMoE(nn.Module):
    """A soft mixture of experts as the text describes it: y = sum_e softmax(gater(x))_e f_e(x)."""

    def __init__(self, d=16, out=8, experts=4):
        super().__init__()
        self.gater = nn.Linear(d, experts)
        self.experts = nn.ModuleList(nn.Linear(d, out) for _ in range(experts))

    def forward(self, x):
        g = torch.softmax(self.gater(x), dim=-1)
        y = sum(g[:, e:e + 1] * f(x) for e, f in enumerate(self.experts))
        return y, g


def test_moe_equals_a_plain_torch_mixture_of_experts():
    model = _program("moe").model()
    w = random_weights(model)
    ref = _SoftMoE()
    state = {f"gater.{p}": w[f"gater.{p}"] for p in ("weight", "bias")}
    state |= {f"experts.{e}.{p}": w[f"expert{e + 1}.{p}"] for e in range(4) for p in ("weight", "bias")}
    ref.load_state_dict({k: _t(v) for k, v in state.items()})
    assert sum(p.numel() for p in ref.parameters()) == model.params == 612
    x = np.random.default_rng(7).standard_normal((6, 16)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in ref(_t(x))]
    for got in _both(model, w, [x]):
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1].sum(axis=1), 1.0, rtol=1e-6)


# ---- mixture density network ----

class _MDNHead(nn.Module):
    def __init__(self, hidden=32, n=5, d=2):
        super().__init__()
        self.n, self.d = n, d
        self.pi, self.mu, self.sigma = nn.Linear(hidden, n), nn.Linear(hidden, n * d), nn.Linear(hidden, n * d)

    def forward(self, h):
        return (torch.softmax(self.pi(h), dim=1), self.mu(h).view(-1, self.n, self.d),
                torch.exp(self.sigma(h)).view(-1, self.n, self.d))


def _head_state(w):
    return {f"{p}.{q}": _t(w[f"head.{p}.{q}"]) for p in ("pi", "mu", "sigma") for q in ("weight", "bias")}


@pytest.mark.parametrize("name", ["MDNHead", "MDN"])
def test_mdn_equals_a_plain_torch_head(name):
    model = _program("mdn").models[name]
    w = random_weights(model)
    head = _MDNHead()
    head.load_state_dict(_head_state(w))
    assert sum(p.numel() for p in head.parameters()) == 825
    rng = np.random.default_rng(8)
    if name == "MDN":
        body = nn.Linear(8, 32)
        body.load_state_dict({"weight": _t(w["body.weight"]), "bias": _t(w["body.bias"])})
        assert model.params == 825 + sum(p.numel() for p in body.parameters()) == 1113
        x = rng.standard_normal((5, 8)).astype(np.float32)
        with torch.no_grad():
            want = [t.numpy() for t in head(torch.tanh(body(_t(x))))]
    else:
        assert model.params == 825
        x = rng.standard_normal((5, 32)).astype(np.float32)
        with torch.no_grad():
            want = [t.numpy() for t in head(_t(x))]
    for got in _both(model, w, [x]):
        pi, mu, sigma = got
        assert pi.shape == (5, 5) and mu.shape == sigma.shape == (5, 5, 2)
        np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=1e-6)
        assert (pi > 0).all() and (sigma > 0).all()
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def test_mdn_mu_keeps_each_components_coordinates_together():
    """mu's dense output 2i, 2i+1 are component i's two coordinates (the reshape's row order)."""
    model = _program("mdn").models["MDNHead"]
    w = random_weights(model)
    h = np.random.default_rng(9).standard_normal((3, 32)).astype(np.float32)
    flat = h @ w["head.mu.weight"].T + w["head.mu.bias"]
    for got in _both(model, w, [h]):
        for i in range(5):
            np.testing.assert_allclose(got[1][:, i, :], flat[:, 2 * i:2 * i + 2], rtol=1e-5, atol=1e-6)


# ---- RBF units ----

def test_rbf_units_follow_the_texts_formula():
    model = _program("rbf").model()
    w = random_weights(model)
    c = w["centres.weight"]
    assert c.shape == (6, 4)
    x = np.random.default_rng(10).standard_normal((7, 4)).astype(np.float32)
    x[0] = c[2]                     # at a centre its unit is exactly 1
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    # h_i = exp(-(1/sigma^2) ||W_{:,i} - x||^2) with sigma = 1.5, one unit per centre
    h = np.array([[np.exp(-np.sum((c64[i] - xn) ** 2) / 1.5 ** 2) for i in range(6)] for xn in x64])
    y = h @ w["dense_1.weight"].T.astype(np.float64) + w["dense_1.bias"]
    for got in _both(model, w, [x]):
        np.testing.assert_allclose(got[0], y, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], h, rtol=1e-5, atol=1e-7)
        assert got[1][0, 2] == pytest.approx(1.0, abs=1e-6)
        assert ((got[1] > 0) & (got[1] <= 1)).all()


# ---- perceptrons with the step ----

BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)


@pytest.mark.parametrize("name, want", [
    ("Gates", [[0, 0], [0, 1], [0, 1], [1, 1]]),      # [AND, OR]
    ("StepXOR", [[0], [1], [1], [0]]),
])
def test_perceptrons_give_their_truth_tables(name, want):
    model = _program("perceptron").models[name]
    w = model.weights(0)            # the literal init= weights, unperturbed
    if name == "Gates":
        assert w["dense_1.weight"].tolist() == [[1, 1], [1, 1]] and w["dense_1.bias"].tolist() == [-2, -1]
    for got in _both(model, w, [BITS]):
        assert got[0].tolist() == want


def test_the_step_fires_at_zero_as_the_text_defines_it():
    """002: u(x) = 1 if x >= 0: AND's [1, 1] and OR's [0, 1] put the sum exactly at 0."""
    model = _program("perceptron").models["Gates"]
    w = model.weights(0)
    z = BITS @ w["dense_1.weight"].T + w["dense_1.bias"]
    assert z[3, 0] == 0 and z[1, 1] == 0
    want = np.where(z >= 0, 1.0, 0.0)
    for got in _both(model, w, [BITS]):
        np.testing.assert_array_equal(got[0], want)


# ---- the recurrent convolutional network ----

def _recurrent_conv(iterations: int):
    text = (EXTRAS / "recurrent_conv.dl").read_text()
    assert "iterations: int = 3" in text
    return dslc.load(text.replace("iterations: int = 3", f"iterations: int = {iterations}")).model()


def _reference_labels(w, x, iterations):
    """The text's recurrence in plain torch: H = relu(U*X + W*Y), Y = softmax(V*H), W*Y = 0 first."""
    U, bu, V, bv, W = (_t(w[k]) for k in ("u.weight", "u.bias", "v.weight", "v.bias", "refine.w.weight"))
    x = _t(x)
    y = None
    for _ in range(iterations):
        pre = F.conv2d(x, U, bu, padding=1)
        if y is not None:
            pre = pre + F.conv2d(y, W, padding=1)
        y = torch.softmax(F.conv2d(torch.relu(pre), V, bv, padding=1), dim=1)
    return y.numpy()


def test_recurrent_conv_counts_the_same_at_any_iteration_count():
    models = {it: _recurrent_conv(it) for it in (2, 3, 5)}
    shapes = {"u.weight": (16, 3, 3, 3), "u.bias": (16,), "v.weight": (5, 16, 3, 3), "v.bias": (5,),
              "refine.w.weight": (16, 5, 3, 3)}
    for it, model in models.items():
        assert model.params == 3 * 16 * 9 + 16 + 16 * 5 * 9 + 5 + 5 * 16 * 9 == 1893
        assert model.param_shapes() == shapes
        convs = [n for n in model.nodes if n.kind == "conv2d"]
        assert len(convs) == 2 + 3 * (it - 1)          # U, V, then U, W, V per refinement
        module = model.to_torch()
        assert sum(p.numel() for p in module.parameters()) == 1893
        proto = model.to_onnx()
        assert sum(int(np.prod(t.dims)) for t in proto.graph.initializer if t.name in shapes) == 1893
    # the same weights, so the outputs differ only by the number of refinements; torch's
    # default init is so small that the refinement is nearly a fixed point at once: the
    # weights are scaled by 3 so that each refinement visibly changes the labels
    w = {k: 3 * v for k, v in random_weights(models[5]).items()}
    x = np.random.default_rng(11).standard_normal((2, 3, 8, 10)).astype(np.float32)
    outs = {}
    for it, model in models.items():
        got_t, got_o = _both(model, w, [x])
        want = _reference_labels(w, x, it)
        np.testing.assert_allclose(got_t[0], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_o[0], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got_t[0].sum(axis=1), 1.0, rtol=1e-5)
        outs[it] = got_t[0]
    assert np.abs(outs[2] - outs[3]).max() > 1e-2 and np.abs(outs[3] - outs[5]).max() > 1e-2


def test_recurrent_conv_shares_one_tensor_per_kernel():
    model = _recurrent_conv(3)
    module = model.to_torch()
    steps = ["refine", "Refine_1"]
    for step in steps:       # U and V of every refinement are the first step's Parameters
        assert module.get_submodule(f"{step}.conv2d_1").weight is module.get_submodule("u").weight
        assert module.get_submodule(f"{step}.conv2d_1").bias is module.get_submodule("u").bias
        assert module.get_submodule(f"{step}.conv2d_2").weight is module.get_submodule("v").weight
        assert module.get_submodule(f"{step}.conv2d_2").bias is module.get_submodule("v").bias
    assert module.get_submodule("Refine_1.w").weight is module.get_submodule("refine.w").weight
    assert len(list(module.parameters())) == 5
    # a gradient step moves the one U that every iteration reads
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    before = module.get_submodule("u").weight.detach().clone()
    module(torch.randn(2, 3, 6, 6)).pow(2).sum().backward()
    opt.step()
    assert module.get_submodule("Refine_1.conv2d_1").weight is module.get_submodule("u").weight
    assert not torch.equal(before, module.get_submodule("u").weight)
    # ONNX: one initializer per tensor, read by the convolution of every iteration
    proto = model.to_onnx()
    inits = [t.name for t in proto.graph.initializer]
    for name in ("u.weight", "u.bias", "v.weight", "v.bias", "refine.w.weight"):
        assert inits.count(name) == 1
    assert not any(n.startswith("Refine_1.") for n in inits)
    conv_weights = [n.input[1] for n in proto.graph.node if n.op_type == "Conv"]
    assert conv_weights.count("u.weight") == 3 and conv_weights.count("v.weight") == 3
    assert conv_weights.count("refine.w.weight") == 2
