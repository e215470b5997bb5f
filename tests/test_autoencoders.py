"""The autoencoders of 003 (specs/autoencoders/) and the convolutional VAE (specs/vae/) against
plain-torch models with copied weights, in dslc's torch module and on onnxruntime: the 6-4-6
autoencoder, its tied form (one weight, used transposed by the decoder; one nn.Parameter, one
ONNX initializer, still one tensor after an optimiser step, and the step equal to the plain-torch
one), the denoising one (noise sampled only in torch's training mode), the stacked
1000-300-100-50-20-5 autoencoder, and the conv VAE with its KL output against NumPy and
torch.distributions. tests/test_specs.py adds counts and parity for every spec."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import dslc
from support import random_weights, run_ort, run_torch

SPECS = Path(__file__).resolve().parent.parent / "specs"


def _model(path: str):
    return dslc.load(SPECS / path).model()


def _t(a):
    return torch.from_numpy(np.asarray(a))


def _both(model, w, xs):
    return run_torch(model, w, xs), run_ort(model, w, xs)[0]


def _close(got, want, tol=1e-5):
    assert len(got) == len(want)
    for g, r in zip(got, want):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


def _onnx_param_elements(model, proto):
    names = set(model.param_shapes())
    return {t.name: int(np.prod(t.dims)) for t in proto.graph.initializer if t.name in names}


class _AE(nn.Module):
    """003's 6-4-6 scheme: sigmoid code layer, linear reconstruction."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec = nn.Linear(6, 4), nn.Linear(4, 6)

    def forward(self, x):
        code = torch.sigmoid(self.enc(x))
        return self.dec(code), code


class _TiedAE(nn.Module):
    """The tied form written by hand: one weight W [4, 6]; the decoder uses W^T."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(4, 6))
        self.b_enc, self.b_dec = nn.Parameter(torch.empty(4)), nn.Parameter(torch.empty(6))

    def forward(self, x):
        code = torch.sigmoid(F.linear(x, self.w, self.b_enc))
        return F.linear(code, self.w.t(), self.b_dec), code


def _load_linear(ref, w, names):
    ref.load_state_dict({f"{r}.{p}": _t(w[f"{d}.{p}"]) for r, d in names.items()
                         for p in ("weight", "bias")})


def test_autoencoder_6_4_6_equals_plain_torch():
    model = _model("autoencoders/basic.dl")
    w = random_weights(model)
    ref = _AE()
    _load_linear(ref, w, {"enc": "enc", "dec": "dec"})
    assert sum(p.numel() for p in ref.parameters()) == model.params == 6 * 4 + 4 + 4 * 6 + 6 == 58
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in ref(_t(x))]
    for got in _both(model, w, [x]):
        _close(got, want)


def _tied_reference(w):
    ref = _TiedAE()
    ref.load_state_dict({"w": _t(w["enc.weight"]), "b_enc": _t(w["enc.bias"]),
                         "b_dec": _t(w["dec.bias"])})
    return ref


def test_tied_autoencoder_equals_plain_torch_with_one_weight():
    model = _model("autoencoders/tied.dl")
    assert model.param_shapes() == {"enc.weight": (4, 6), "enc.bias": (4,), "dec.bias": (6,)}
    assert model.params == 6 * 4 + 4 + 6 == 34
    w = random_weights(model)
    ref = _tied_reference(w)
    assert sum(p.numel() for p in ref.parameters()) == 34
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in ref(_t(x))]
    for got in _both(model, w, [x]):
        _close(got, want)
    # the decoder really reads the encoder's weight transposed: changing it changes both uses
    w2 = dict(w, **{"enc.weight": w["enc.weight"] * 2})
    with torch.no_grad():
        ref.w.mul_(2)
        want2 = [t.numpy() for t in ref(_t(x))]
    for got in _both(model, w2, [x]):
        _close(got, want2)


def test_tied_autoencoder_is_one_parameter_and_one_initializer():
    model = _model("autoencoders/tied.dl")
    module = model.to_torch()
    assert module.dec.weight is module.enc.weight
    assert sum(p.numel() for p in module.parameters()) == 34
    assert [n for n, _ in module.named_parameters()] == ["enc.weight", "enc.bias", "dec.bias"]
    proto = model.to_onnx()
    elements = _onnx_param_elements(model, proto)
    assert elements == {"enc.weight": 24, "enc.bias": 4, "dec.bias": 6}
    inits = [t.name for t in proto.graph.initializer]
    assert len(inits) == len(set(inits)) and not any("dec.weight" in n for n in inits)


def test_tied_autoencoder_sgd_step_keeps_one_tensor_and_matches_plain_torch():
    model = _model("autoencoders/tied.dl")
    w = random_weights(model)
    module = model.to_torch(weights=w).train()
    ref = _tied_reference(w).train()
    x = _t(np.random.default_rng(2).standard_normal((8, 6)).astype(np.float32))
    before = module.enc.weight.detach().clone()
    for net in (module, ref):
        opt = torch.optim.SGD(net.parameters(), lr=0.5)
        opt.zero_grad()
        F.mse_loss(net(x)[0], x).backward()        # reconstruct the input
        opt.step()
    assert module.dec.weight is module.enc.weight
    assert not torch.equal(before, module.enc.weight)
    # the tied gradient is the sum of both uses, as in the hand-written model
    torch.testing.assert_close(module.enc.weight, ref.w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(module.enc.bias, ref.b_enc, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(module.dec.bias, ref.b_dec, rtol=1e-5, atol=1e-6)
    # the trained weights deploy to ONNX as one initializer and compute the same thing
    trained = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert set(trained) == {"enc.weight", "enc.bias", "dec.bias"}
    outs, proto = run_ort(model, trained, [x.numpy()])
    assert _onnx_param_elements(model, proto) == {"enc.weight": 24, "enc.bias": 4, "dec.bias": 6}
    with torch.no_grad():
        want = [t.numpy() for t in ref.eval()(x)]
    _close(outs, want)


def _denoising():
    model = _model("autoencoders/denoising.dl")
    w = random_weights(model)
    ref = _AE()
    _load_linear(ref, w, {"enc": "enc", "dec": "dec"})
    assert sum(p.numel() for p in ref.parameters()) == model.params == 58
    return model, w, ref


def test_denoising_noise_is_absent_in_eval_mode_and_onnx():
    model, w, ref = _denoising()
    assert [p.name for p in model.inputs] == ["x"]            # the noise is no input
    x = np.random.default_rng(3).standard_normal((6, 6)).astype(np.float32)
    with torch.no_grad():
        want = [ref(_t(x))[0].numpy()]
    for got in _both(model, w, [x]):
        _close(got, want)
    ops = {n.op_type for n in model.to_onnx(weights=w).graph.node}
    assert not any(op.startswith("Random") or op in ("Bernoulli", "Dropout") for op in ops)


def test_denoising_noise_is_sampled_in_training_mode():
    model, w, ref = _denoising()
    module = model.to_torch(weights=w).train()
    drawn = []
    module.get_submodule("noise").register_forward_hook(lambda m, i, o: drawn.append(o.detach().clone()))
    x = _t(np.random.default_rng(4).standard_normal((4000, 6)).astype(np.float32))
    with torch.no_grad():
        first, second = module(x), module(x)
        clean = ref(x)[0]
    n = drawn[0]
    assert n.shape == x.shape
    assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02     # N(0, 1)
    assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(first, second)
    # the reconstruction is the reference's on the corrupted input x + 0.1 * n, not on x
    with torch.no_grad():
        torch.testing.assert_close(first, ref(x + 0.1 * n)[0], rtol=1e-5, atol=1e-5)
    assert float((first - clean).abs().max()) > 1e-3
    with torch.no_grad():
        torch.testing.assert_close(module.eval()(x), clean, rtol=1e-5, atol=1e-5)


ENC, DEC = [1000, 300, 100, 50, 20, 5], [5, 20, 50, 100, 300, 1000]


class _Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(ENC, ENC[1:]))
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(DEC, DEC[1:]))

    def forward(self, x):
        for layer in self.enc:
            x = torch.tanh(layer(x))
        code = x
        for i, layer in enumerate(self.dec):
            x = layer(x)
            x = torch.tanh(x) if i < len(self.dec) - 1 else x
        return x, code


def test_stacked_autoencoder_equals_plain_torch():
    model = _model("autoencoders/stacked.dl")
    w = random_weights(model)
    ref = _Stacked()
    state = {}
    for part, prefix in (("enc", "encoder"), ("dec", "decoder")):
        for i in range(5):
            for p in ("weight", "bias"):
                state[f"{part}.{i}.{p}"] = _t(w[f"{prefix}.dense_{i + 1}.{p}"])
    ref.load_state_dict(state)
    by_hand = sum(a * b + b for a, b in zip(ENC, ENC[1:])) + sum(a * b + b for a, b in zip(DEC, DEC[1:]))
    assert sum(p.numel() for p in ref.parameters()) == model.params == by_hand == 674_145
    x = np.random.default_rng(5).standard_normal((3, 1000)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in ref(_t(x))]
    for got in _both(model, w, [x]):
        _close(got, want, tol=1e-4)


class _ConvVAE(nn.Module):
    def __init__(self, latent=16):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 32, 4, 2, 1), nn.Conv2d(32, 64, 4, 2, 1)
        self.mu, self.logvar = nn.Linear(3136, latent), nn.Linear(3136, latent)
        self.fc = nn.Linear(latent, 3136)
        self.d1, self.d2 = nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def forward(self, x, eps):
        h = torch.relu(self.c2(torch.relu(self.c1(x)))).flatten(1)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        y = torch.relu(self.fc(z)).view(-1, 64, 7, 7)
        return torch.sigmoid(self.d2(torch.relu(self.d1(y)))), mu, logvar


def _np_kl(mu, logvar):
    mu, logvar = mu.astype(np.float64), logvar.astype(np.float64)
    return -0.5 * np.sum(1 + logvar - mu ** 2 - np.exp(logvar), axis=1)


@pytest.mark.parametrize("n", [1, 4])
def test_conv_vae_equals_plain_torch_and_its_kl_is_numpys(n):
    model = _model("vae/conv_vae.dl")
    assert [p.name for p in model.inputs] == ["x", "eps_noise"]
    assert [p.name for p in model.outputs] == ["recon", "mu", "logvar", "kl"]
    w = random_weights(model)
    for head in ("mu", "logvar"):   # heads scaled up, so that the KL term is O(10), not O(0.1)
        w[f"{head}.weight"] = w[f"{head}.weight"] * 20
    ref = _ConvVAE()
    names = {"c1": "conv2d_1", "c2": "conv2d_2", "mu": "mu", "logvar": "logvar", "fc": "dense_1",
             "d1": "conv_transpose2d_1", "d2": "conv_transpose2d_2"}
    _load_linear(ref, w, names)
    assert sum(p.numel() for p in ref.parameters()) == model.params == 220_385
    rng = np.random.default_rng(6 + n)
    x = rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)
    eps = rng.standard_normal((n, 16)).astype(np.float32)
    with torch.no_grad():
        recon, mu, logvar = ref(_t(x), _t(eps))
        # an independent oracle for the KL term: torch.distributions' closed form
        kl_dist = torch.distributions.kl_divergence(
            torch.distributions.Normal(mu.double(), torch.exp(0.5 * logvar.double())),
            torch.distributions.Normal(torch.zeros_like(mu.double()), torch.ones_like(mu.double()))
        ).sum(dim=1).numpy()
    want = [recon.numpy(), mu.numpy(), logvar.numpy()]
    np.testing.assert_allclose(_np_kl(mu.numpy(), logvar.numpy()), kl_dist, rtol=1e-9, atol=1e-9)
    for got in _both(model, w, [x, eps]):
        _close(got[:3], want, tol=1e-4)
        assert got[3].shape == (n,)
        # the KL output is the NumPy KL of the very mu and logvar the backend returned
        assert np.abs(kl_dist).min() > 1
        np.testing.assert_allclose(got[3], _np_kl(got[1], got[2]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[3], kl_dist, rtol=1e-5, atol=1e-5)


def test_conv_vae_kl_is_zero_at_the_prior():
    """mu = 0 and logvar = 0 (the heads' weights and biases zero): KL(N(0, 1) || N(0, 1)) = 0,
    and the reconstruction no longer depends on the input, only on eps."""
    model = _model("vae/conv_vae.dl")
    w = random_weights(model)
    for head in ("mu", "logvar"):
        w[f"{head}.weight"] = np.zeros_like(w[f"{head}.weight"])
        w[f"{head}.bias"] = np.zeros_like(w[f"{head}.bias"])
    rng = np.random.default_rng(8)
    x1, x2 = (rng.uniform(0, 1, (2, 1, 28, 28)).astype(np.float32) for _ in range(2))
    eps = rng.standard_normal((2, 16)).astype(np.float32)
    for run in (run_torch, lambda m, w, xs: run_ort(m, w, xs)[0]):
        a, b = run(model, w, [x1, eps]), run(model, w, [x2, eps])
        np.testing.assert_array_equal(a[3], np.zeros(2, np.float32))
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)
