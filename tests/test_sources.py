"""Free parameters and noise (dslc/ops/sources.py): counted, named, initialised, frozen and tied
like layers; noise sampled only in torch's training mode (statistics checked), its mean in eval
mode and ONNX, or fed from an input of its own (`noise=input`) in both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from support import parity, random_weights, run_ort, run_torch

FREE = """model Free {
    input x: f32[N, 3]
    t = param([1], init=constant(2.0), name=temp)
    c = param([4, 3], name=centres)
    d = param([4, 3], tie=centres)
    f = param([3], frozen=true, init=[1, 2, 3], name=fixed)
    output y = ((x / t + f) -> reshape(N, 1, 3)) - c
    output z = d * 1
}"""


def test_free_parameters_count_name_init_tie_freeze():
    model = dslc.load(FREE).model()
    assert model.param_shapes() == {"temp.weight": (1,), "centres.weight": (4, 3),
                                    "fixed.weight": (3,)}
    assert model.params == 1 + 12 + 3 and model.trainable_params == 13
    w = model.weights()
    assert w["temp.weight"].tolist() == [2.0] and w["fixed.weight"].tolist() == [1, 2, 3]
    bound = np.sqrt(6 / (4 + 3))                       # xavier_uniform, the documented default
    assert np.abs(w["centres.weight"]).max() <= bound and w["centres.weight"].std() > 0.1
    module = model.to_torch()
    names = {n: p.requires_grad for n, p in module.named_parameters()}
    assert names == {"temp.weight": True, "centres.weight": True, "fixed.weight": False}
    x = torch.randn(2, 3)
    y, z = module(x)
    want = (x / 2 + torch.tensor([1.0, 2, 3])).unsqueeze(1) - torch.from_numpy(w["centres.weight"])
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(z, torch.from_numpy(w["centres.weight"]))   # the tied tensor
    proto = model.to_onnx()
    assert sorted(t.name for t in proto.graph.initializer if "weight" in t.name) == \
        ["centres.weight", "fixed.weight", "temp.weight"]
    assert parity(model, {"N": 2}) < 1e-6 and parity(model, {"N": 5}) < 1e-6


def test_param_takes_the_models_floating_dtype():
    model = dslc.load("model M { input x: f64[N, 2]\n output y = x + param([2]) }").model()
    assert model.nodes[0].out_types[0].dtype == "f64"


@pytest.mark.parametrize("src, code, fragment", [
    ("output y = x -> param([2])", "E209", "the right of `->` must be a layer"),
    ("output y = x + param([0, 2])", "E205", "sizes >= 1"),
    ("output y = x + param([2], init=[1, 2, 3])", "E205", "the values have shape [3]"),
    ("output y = x + param([2], tie=nothing)", "E201", "no layer named `nothing`"),
])
def test_param_errors(src, code, fragment):
    diags = dslc.check_text("model M { input x: f32[N, 2]\n " + src + " }").errors
    assert [d.code for d in diags] == [code] and fragment in diags[0].message, diags[0].short()
    assert diags[0].span.line == 2


NOISE = """model Noise {
    input x: f32[N, 2000]
    output n = randn_like(x)
    output u = rand_like(x)
    output b = bernoulli(x)
}"""


def test_noise_is_its_mean_in_eval_mode_and_onnx():
    model = dslc.load(NOISE).model()
    assert [p.name for p in model.inputs] == ["x"]
    x = np.random.default_rng(0).uniform(0, 1, (3, 2000)).astype(np.float32)
    w = random_weights(model)
    for outs in (run_torch(model, w, [x]), run_ort(model, w, [x])[0]):
        np.testing.assert_array_equal(outs[0], np.zeros_like(x))
        np.testing.assert_array_equal(outs[1], np.full_like(x, 0.5))
        np.testing.assert_array_equal(outs[2], x)
    ops = {n.op_type for n in model.to_onnx().graph.node}
    assert not any(op.startswith("Random") or op == "Bernoulli" for op in ops)


def test_noise_samples_in_training_mode_with_the_right_statistics():
    model = dslc.load(NOISE).model()
    module = model.to_torch().train()
    p = torch.full((4, 2000), 0.3)
    n, u, b = module(p)
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03
    assert abs(u.mean() - 0.5) < 0.01 and u.min() >= 0 and u.max() < 1
    assert abs(b.mean() - 0.3) < 0.02 and set(b.unique().tolist()) == {0.0, 1.0}
    n2 = module(p)[0]
    assert not torch.equal(n, n2)                         # a fresh draw each step ...
    again = model.to_torch().train()
    torch.testing.assert_close(again(p)[0], n)          # ... reproducible from dslc's seed


def test_noise_from_an_input_in_both_backends_and_modes():
    model = dslc.load("""model VAE {
        input x: f32[N, 6]
        mu = x -> dense(3)
        logvar = x -> dense(3)
        eps = randn_like(mu, noise=input, name=eps)
        coin = bernoulli(mu -> sigmoid, noise=input)
        output z = mu + 0.5 * logvar * eps
        output c = coin
    }""").model()
    assert [(p.name, str(p.type)) for p in model.inputs] == [
        ("x", "f32[N, 6]"), ("eps_noise", "f32[N, 3]"), ("bernoulli_1_noise", "f32[N, 3]")]
    rng = np.random.default_rng(1)
    x, eps, u = (rng.standard_normal((4, 6)).astype(np.float32),
                 rng.standard_normal((4, 3)).astype(np.float32),
                 rng.uniform(0, 1, (4, 3)).astype(np.float32))
    w = random_weights(model)
    lin = lambda name: x @ w[f"{name}.weight"].T + w[f"{name}.bias"]   # noqa: E731
    mu, logvar = lin("dense_1"), lin("dense_2")
    want_z, want_c = mu + 0.5 * logvar * eps, (u < 1 / (1 + np.exp(-mu))).astype(np.float32)
    for z, c in (run_torch(model, w, [x, eps, u]), run_ort(model, w, [x, eps, u])[0]):
        np.testing.assert_allclose(z, want_z, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(c, want_c)
    train = model.to_torch(weights=w).train()
    z, _ = train(*[torch.from_numpy(a) for a in (x, eps, u)])
    np.testing.assert_allclose(z.detach().numpy(), want_z, rtol=1e-5, atol=1e-5)


def test_noise_errors():
    diags = dslc.check_text("model M { input i: i64[N, 2]\n output y = randn_like(i) }").errors
    assert [d.code for d in diags] == ["E306"] and diags[0].span.line == 2
    diags = dslc.check_text("model M { input x: f32[N, 2]\n output y = randn_like(x, noise=yes) }").errors
    assert [d.code for d in diags] == ["E205"] and "noise" in diags[0].message
