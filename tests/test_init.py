"""`init=` per layer (002, 3.9: random, Xavier, Kaiming/He), applied identically in both backends.

The torch module's parameters and the ONNX initializers must be the same arrays; each array's
statistics must match its declared scheme, whose mean, std and bounds are computed here from
fan_in / fan_out as torch.nn.init documents them (and checked against torch.nn.init itself).
Layers are 256 -> 512 (131,072 weights) and 32 -> 64 3x3 convolutions (18,432), so the sample
std is within ~0.5% of the true one; the tolerance is 5%."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from onnx import numpy_helper

import dslc

SPEC = """model Inits {
    input x: f32[N, 256]
    input img: f32[N, 32, 8, 8]
    output xu  = x -> dense(512, init=xavier_uniform, name=xu)
    output xn  = x -> dense(512, init=xavier_normal, name=xn)
    output kn  = x -> dense(512, init=kaiming_normal(nonlinearity=relu), name=kn)
    output ku  = x -> dense(512, init=kaiming_uniform, name=ku)
    output nrm = x -> dense(512, init=normal(std=0.02), name=nrm)
    output uni = x -> dense(512, init=uniform(a=-0.1, b=0.1), name=uni)
    output cst = x -> dense(512, init=constant(0.5), name=cst)
    output zer = x -> dense(512, init=zeros, name=zer)
    output num = x -> dense(512, init=0.25, name=num)
    output rec = x -> dense(512, init={weight: xavier_normal(gain=2.0), bias: uniform(a=-0.1, b=0.1)}, name=rec)
    output cxu = img -> conv2d(64, 3, init=xavier_uniform, name=cxu)
    output ckn = img -> conv2d(64, 3, init=kaiming_normal(mode=fan_out, nonlinearity=relu), name=ckn)
    output cku = img -> conv2d(64, 3, init=kaiming_uniform(a=0.2), name=cku)
    output lit = x -> slice(0, 3, axis=1) -> dense(2, init={weight: [[1, 2, 3], [4, 5, 6]], bias: [0.5, -0.5]}, name=lit)
}"""


def fans(shape):
    """torch.nn.init._calculate_fan_in_and_fan_out: dim 1 and dim 0, times the receptive field."""
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def gain(nonlinearity="leaky_relu", a=0.0):
    """torch.nn.init.calculate_gain."""
    return {"linear": 1.0, "sigmoid": 1.0, "tanh": 5 / 3, "relu": math.sqrt(2.0), "selu": 0.75,
            "leaky_relu": math.sqrt(2.0 / (1 + a * a))}[nonlinearity]


def xavier(shape, g=1.0):
    fi, fo = fans(shape)
    return g * math.sqrt(2.0 / (fi + fo))


def kaiming(shape, mode="fan_in", nonlinearity="leaky_relu", a=0.0):
    fi, fo = fans(shape)
    return gain(nonlinearity, a) / math.sqrt(fi if mode == "fan_in" else fo)


def uniform_of_std(std):
    """U(-b, b) with std `std`: b = sqrt(3) std (xavier_uniform's sqrt(6 / (fi + fo)),
    kaiming_uniform's gain * sqrt(3 / fan))."""
    return ("uniform", -math.sqrt(3) * std, math.sqrt(3) * std)


W, C = (512, 256), (64, 32, 3, 3)
# parameter -> (kind, arguments): ("normal", mean, std), ("uniform", low, high), ("constant", v)
EXPECTED = {
    "xu.weight": uniform_of_std(xavier(W)),
    "xn.weight": ("normal", 0.0, xavier(W)),
    "kn.weight": ("normal", 0.0, kaiming(W, nonlinearity="relu")),
    "ku.weight": uniform_of_std(kaiming(W)),
    "nrm.weight": ("normal", 0.0, 0.02),
    "uni.weight": ("uniform", -0.1, 0.1),
    "cst.weight": ("constant", 0.5),
    "zer.weight": ("constant", 0.0),
    "num.weight": ("constant", 0.25),
    "rec.weight": ("normal", 0.0, xavier(W, 2.0)),
    "rec.bias": ("uniform", -0.1, 0.1),
    "cxu.weight": uniform_of_std(xavier(C)),
    "ckn.weight": ("normal", 0.0, kaiming(C, mode="fan_out", nonlinearity="relu")),
    "cku.weight": uniform_of_std(kaiming(C, a=0.2)),
}
# torch.nn.init's own function for each scheme: the formulas above are checked against it
TORCH_INIT = {
    "xu.weight": lambda t: torch.nn.init.xavier_uniform_(t),
    "xn.weight": lambda t: torch.nn.init.xavier_normal_(t),
    "kn.weight": lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"),
    "ku.weight": lambda t: torch.nn.init.kaiming_uniform_(t),
    "rec.weight": lambda t: torch.nn.init.xavier_normal_(t, gain=2.0),
    "cxu.weight": lambda t: torch.nn.init.xavier_uniform_(t),
    "ckn.weight": lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
    "cku.weight": lambda t: torch.nn.init.kaiming_uniform_(t, a=0.2),
}


@pytest.fixture(scope="module")
def emitted():
    model = dslc.load(SPEC).model()
    module = model.to_torch(seed=0)
    proto = model.to_onnx(seed=0)
    return model, module, {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def test_both_backends_hold_identical_arrays(emitted):
    model, module, inits = emitted
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert set(model.param_shapes()) <= set(inits) and set(model.param_shapes()) == set(state)
    for name, shape in model.param_shapes().items():
        assert state[name].shape == inits[name].shape == tuple(shape), name
        assert state[name].dtype == inits[name].dtype == np.float32, name
        assert np.array_equal(state[name], inits[name]), f"{name}: torch and ONNX differ"


def _excess_kurtosis(a):
    z = (a - a.mean()) / a.std()
    return float(np.mean(z ** 4) - 3.0)


def _check(name, a, expected):
    a = a.astype(np.float64).ravel()
    kind = expected[0]
    if kind == "constant":
        assert np.all(a == expected[1]), f"{name}: not all {expected[1]}"
        return
    if kind == "normal":
        mean, std = expected[1], expected[2]
    else:
        lo, hi = expected[1], expected[2]
        mean, std = (lo + hi) / 2, (hi - lo) / math.sqrt(12)
        assert a.min() >= lo and a.max() <= hi, f"{name}: [{a.min()}, {a.max()}] outside [{lo}, {hi}]"
        span = hi - lo       # and the whole interval is used, not a narrower one
        assert a.min() < lo + 0.01 * span and a.max() > hi - 0.01 * span, name
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(a.size), f"{name}: mean {a.mean()} vs {mean}"
    assert abs(a.std() / std - 1) < 0.05, f"{name}: std {a.std()} vs {std} by the scheme's formula"
    # the shape of the distribution: a normal's excess kurtosis is 0, a uniform's -1.2
    want = 0.0 if kind == "normal" else -1.2
    assert abs(_excess_kurtosis(a) - want) < 0.15, f"{name}: not {kind} (kurtosis {_excess_kurtosis(a)})"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_parameter_follows_its_declared_scheme(emitted, name):
    _, module, inits = emitted
    _check(name, inits[name], EXPECTED[name])
    _check(name, module.state_dict()[name].numpy(), EXPECTED[name])


@pytest.mark.parametrize("name", sorted(TORCH_INIT))
def test_the_formulas_are_torch_nn_init(name):
    """The expected statistics above, computed from the fans, describe torch.nn.init's own draws."""
    shape = W if name.split(".")[0] in ("xu", "xn", "kn", "ku", "rec") else C
    torch.manual_seed(0)
    _check(name, TORCH_INIT[name](torch.empty(shape)).numpy(), EXPECTED[name])


def test_literal_values_are_used_exactly(emitted):
    _, module, inits = emitted
    for arrays in (inits, {k: v.numpy() for k, v in module.state_dict().items()}):
        np.testing.assert_array_equal(arrays["lit.weight"], [[1, 2, 3], [4, 5, 6]])
        np.testing.assert_array_equal(arrays["lit.bias"], [0.5, -0.5])
    x = np.array([[1.0, 1.0, 1.0] + [0.0] * 253], dtype=np.float32)
    img = np.zeros((1, 32, 8, 8), dtype=np.float32)
    with torch.no_grad():
        out = module(torch.from_numpy(x), torch.from_numpy(img))
    np.testing.assert_allclose(out[-1].numpy(), [[6.5, 14.5]])      # [1+2+3, 4+5+6] + bias


def test_a_scheme_on_the_weight_leaves_the_bias_at_torchs_default(emitted):
    """`init=xavier_uniform` names the weight; the bias stays nn.Linear's U(-1/sqrt(fan_in), ..)."""
    _, _, inits = emitted
    bound = 1 / math.sqrt(256)
    for name in ("xu.bias", "kn.bias", "cst.bias", "zer.bias"):
        b = inits[name]
        assert b.min() >= -bound and b.max() <= bound and b.max() > 0.9 * bound, name
    c = inits["cxu.bias"]                                  # nn.Conv2d: fan_in = 32 * 3 * 3
    assert np.abs(c).max() <= 1 / math.sqrt(288) and np.abs(c).max() > 0.9 / math.sqrt(288)


def test_draws_depend_on_the_seed_and_constants_do_not(emitted):
    model, _, inits = emitted
    other = {t.name: numpy_helper.to_array(t) for t in model.to_onnx(seed=1).graph.initializer}
    assert not np.array_equal(other["xu.weight"], inits["xu.weight"])
    assert np.array_equal(other["cst.weight"], inits["cst.weight"])
    _check("xu.weight", other["xu.weight"], EXPECTED["xu.weight"])


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "selu", "linear"])
def test_kaiming_gain_of_a_quoted_nonlinearity(nonlinearity):
    spec = (f'model M {{ input x: f32[N, 256]\n output y = x -> dense(512, '
            f'init=kaiming_normal(nonlinearity="{nonlinearity}"), name=d) }}')
    w = dslc.load(spec).model().to_onnx(seed=0).graph.initializer
    w = next(numpy_helper.to_array(t) for t in w if t.name == "d.weight")
    _check("d.weight", w, ("normal", 0.0, kaiming(W, nonlinearity=nonlinearity)))


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "selu"])
def test_kaiming_gain_of_a_bare_nonlinearity(nonlinearity):
    spec = (f'model M {{ input x: f32[N, 256]\n output y = x -> dense(512, '
            f'init=kaiming_normal(nonlinearity={nonlinearity}), name=d) }}')
    w = dslc.load(spec).model().to_onnx(seed=0).graph.initializer
    w = next(numpy_helper.to_array(t) for t in w if t.name == "d.weight")
    _check("d.weight", w, ("normal", 0.0, kaiming(W, nonlinearity=nonlinearity)))
