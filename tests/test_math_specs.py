"""The tensor-math systems of specs/math/ against independent references: plain-torch models with
the same weights (VAE, Set Transformer ISAB), NumPy formulas (two-tower, maxout), the attention
op (einsum attention), and the symmetry a set model must have (DeepSets, ISAB: the order of the
set's elements does not matter, at two set sizes). tests/test_specs.py adds counts and parity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import dslc
from support import random_weights, run_ort, run_torch

MATH = Path(__file__).resolve().parent.parent / "specs" / "math"


def _model(name: str):
    return dslc.load(MATH / f"{name}.dl").model()


def _both(model, w, xs):
    return run_torch(model, w, xs), run_ort(model, w, xs)[0]


def _t(a):
    return torch.from_numpy(np.asarray(a))


def test_vae_equals_a_plain_torch_vae():
    model = _model("vae")
    w = random_weights(model)

    class VAE(nn.Module):           # the model as the texts write it
        def __init__(self):
            super().__init__()
            self.fc1, self.mu, self.logvar = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
            self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

        def forward(self, x, eps):
            h = torch.relu(self.fc1(x))
            mu, logvar = self.mu(h), self.logvar(h)
            z = mu + torch.exp(0.5 * logvar) * eps
            return torch.sigmoid(self.fc4(torch.relu(self.fc3(z)))), mu, logvar

    ref = VAE()
    names = {"fc1": "dense_1", "mu": "mu", "logvar": "logvar", "fc3": "dense_2", "fc4": "dense_3"}
    ref.load_state_dict({f"{r}.{p}": _t(w[f"{d}.{p}"]) for r, d in names.items() for p in ("weight", "bias")})
    assert sum(p.numel() for p in ref.parameters()) == model.params == 652_824
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (4, 784)).astype(np.float32)
    eps = rng.standard_normal((4, 20)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in ref(_t(x), _t(eps))]
    for got in _both(model, w, [x, eps]):
        for g, r in zip(got, want):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("s", [4, 9])
def test_deepsets_ignores_the_order_of_the_set(s):
    model = _model("deepsets")
    w = random_weights(model)
    x = np.random.default_rng(s).standard_normal((3, s, 3)).astype(np.float32)
    perm = np.random.default_rng(s + 1).permutation(s)
    assert (perm != np.arange(s)).any()
    for run in (run_torch, lambda m, w, xs: run_ort(m, w, xs)[0]):
        a, b = run(model, w, [x])[0], run(model, w, [x[:, perm]])[0]
        assert a.shape == (3, 1)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    pooled = next(n for n in model.nodes if n.kind == "sum")
    assert str(pooled.in_types[0]) == "f32[N, S, 64]" and str(pooled.out_types[0]) == "f32[N, 64]"


def test_two_tower_scores_are_dot_products():
    model = _model("two_tower")
    w = random_weights(model)
    rng = np.random.default_rng(5)
    user, item = rng.standard_normal((5, 10)).astype(np.float32), rng.standard_normal((5, 12)).astype(np.float32)

    def tower(x, p):
        h = np.maximum(x @ w[f"{p}.dense_1.weight"].T + w[f"{p}.dense_1.bias"], 0)
        return h @ w[f"{p}.dense_2.weight"].T + w[f"{p}.dense_2.bias"]
    want = np.einsum("nf,nf->n", tower(user, "user_tower"), tower(item, "item_tower"))
    for got in _both(model, w, [user, item]):
        assert got[0].shape == (5,)
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_maxout_takes_the_max_of_each_units_pieces():
    model = _model("maxout")
    w = random_weights(model)
    x = np.random.default_rng(6).standard_normal((4, 20)).astype(np.float32)
    pieces = (x @ w["MaxoutUnit_1.dense_1.weight"].T + w["MaxoutUnit_1.dense_1.bias"]).reshape(4, 16, 4)
    want = pieces.max(axis=2) @ w["dense_1.weight"].T + w["dense_1.bias"]
    for got in _both(model, w, [x]):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_einsum_attention_equals_the_attention_op():
    hand = _model("einsum_attention")
    op = dslc.load("model M { input x: f32[N, T, 32]\n output y = x -> attention(4) }").model()
    w = random_weights(op)
    wq, wk, wv = np.split(w["attention_1.in_proj_weight"], 3)
    bq, bk, bv = np.split(w["attention_1.in_proj_bias"], 3)
    mapped = {"Heads_1.dense_1.weight": wq, "Heads_1.dense_1.bias": bq,
              "Heads_2.dense_1.weight": wk, "Heads_2.dense_1.bias": bk,
              "Heads_3.dense_1.weight": wv, "Heads_3.dense_1.bias": bv,
              "dense_1.weight": w["attention_1.out_proj.weight"],
              "dense_1.bias": w["attention_1.out_proj.bias"]}
    assert set(mapped) == set(hand.param_shapes())
    x = np.random.default_rng(2).standard_normal((2, 6, 32)).astype(np.float32)
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()   # torch itself as the oracle
    mha.load_state_dict({"in_proj_weight": _t(w["attention_1.in_proj_weight"]),
                         "in_proj_bias": _t(w["attention_1.in_proj_bias"]),
                         "out_proj.weight": _t(w["attention_1.out_proj.weight"]),
                         "out_proj.bias": _t(w["attention_1.out_proj.bias"])})
    with torch.no_grad():
        want = mha(_t(x), _t(x), _t(x), need_weights=False)[0].numpy()
    for got in list(_both(op, w, [x])) + list(_both(hand, mapped, [x])):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


class _MAB(nn.Module):
    """The Set Transformer's MAB as its authors wrote it (post-norm, ReLU feed-forward)."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln0, self.ln1, self.ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, x, y):
        h = self.ln0(x + self.att(x, y, y, need_weights=False)[0])
        return self.ln1(h + torch.relu(self.ff(h)))


class _ISAB(nn.Module):
    def __init__(self, d=64, m=16):
        super().__init__()
        self.inducing = nn.Parameter(torch.empty(m, d))
        self.mab0, self.mab1 = _MAB(d), _MAB(d)

    def forward(self, x):
        h = self.mab0(self.inducing.expand(x.shape[0], -1, -1), x)
        return self.mab1(x, h)


def _isab_reference(w):
    ref = nn.ModuleDict({"embed": nn.Linear(3, 64), "isab0": _ISAB(), "isab1": _ISAB(),
                         "head": nn.Linear(64, 1)})
    state = {"embed.weight": w["dense_1.weight"], "embed.bias": w["dense_1.bias"],
             "head.weight": w["dense_2.weight"], "head.bias": w["dense_2.bias"]}
    for i in (0, 1):
        state[f"isab{i}.inducing"] = w[f"ISAB_{i + 1}.inducing.weight"]
        for j in (0, 1):
            src, dst = f"ISAB_{i + 1}.MAB_{j + 1}", f"isab{i}.mab{j}"
            for p in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"):
                state[f"{dst}.att.{p}"] = w[f"{src}.attention_1.{p}"]
            for k, ln in ((1, "ln0"), (2, "ln1")):
                for p in ("weight", "bias"):
                    state[f"{dst}.{ln}.{p}"] = w[f"{src}.layernorm_{k}.{p}"]
            for p in ("weight", "bias"):
                state[f"{dst}.ff.{p}"] = w[f"{src}.dense_1.{p}"]
    ref.load_state_dict({k: _t(v) for k, v in state.items()})
    return ref.eval()


@pytest.mark.parametrize("s", [5, 11])
def test_isab_equals_the_set_transformer_authors_block(s):
    model = _model("isab")
    w = random_weights(model)
    ref = _isab_reference(w)
    assert sum(p.numel() for p in ref.parameters()) == model.params == 86_593
    x = np.random.default_rng(s).standard_normal((3, s, 3)).astype(np.float32)
    with torch.no_grad():
        h = ref["isab1"](ref["isab0"](ref["embed"](_t(x))))
        want = ref["head"](h.mean(dim=1)).numpy()
    perm = np.random.default_rng(s + 1).permutation(s)
    for got in list(_both(model, w, [x])) + list(_both(model, w, [x[:, perm]])):
        np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)
