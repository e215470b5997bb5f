"""The recommender and contrastive models of specs/recsys/ against NumPy formulas, in dslc's
torch module and on onnxruntime: the two-tower model's dot-product scores (ids over their whole
range), and the triplet model's squared L2 distances through one encoder shared by block ties
(one nn.Parameter per tensor, one ONNX initializer, still one tensor after an SGD step on the
triplet loss, and that step equal to a plain-torch encoder used three times)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import dslc
from specfiles import int_ranges
from support import random_weights, run_ort, run_torch

RECSYS = Path(__file__).resolve().parent.parent / "specs" / "recsys"


def _model(name: str):
    return dslc.load(RECSYS / f"{name}.dl").model()


def _both(model, w, xs):
    return run_torch(model, w, xs), run_ort(model, w, xs)[0]


def _t(a):
    return torch.from_numpy(np.asarray(a))


def _tower(w, prefix, ids):
    e = w[f"{prefix}.embedding_1.weight"][ids]
    h = np.maximum(e @ w[f"{prefix}.dense_1.weight"].T + w[f"{prefix}.dense_1.bias"], 0)
    return h @ w[f"{prefix}.dense_2.weight"].T + w[f"{prefix}.dense_2.bias"]


def test_two_tower_counts_and_ranges():
    model = _model("two_tower")
    assert model.params == (1000 * 32 + 32 * 64 + 64 + 64 * 16 + 16) + (500 * 32 + 32 * 64 + 64 + 64 * 16 + 16)
    assert model.params == 54_304
    shapes = model.param_shapes()
    assert shapes["user_tower.embedding_1.weight"] == (1000, 32)
    assert shapes["item_tower.embedding_1.weight"] == (500, 32)
    # the `# ints` line names the embeddings' sizes, so every drawn id is a valid row
    assert int_ranges(RECSYS / "two_tower.dl") == {"user": 1000, "item": 500}


def test_two_tower_scores_are_dot_products_of_the_towers():
    model = _model("two_tower")
    w = random_weights(model)
    rng = np.random.default_rng(0)
    # the whole id range, first and last rows included
    user = np.concatenate([[0, 999], rng.integers(0, 1000, 30)]).astype(np.int64)
    item = np.concatenate([[499, 0], rng.integers(0, 500, 30)]).astype(np.int64)
    want = np.einsum("nf,nf->n", _tower(w, "user_tower", user), _tower(w, "item_tower", item))
    for got in _both(model, w, [user, item]):
        assert got[0].shape == (32,)
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_two_tower_scores_one_user_against_every_item():
    """Scoring a catalogue: one user repeated against all 500 items ranks them as NumPy does."""
    model = _model("two_tower")
    w = random_weights(model, seed=1)
    user, item = np.full(500, 7, np.int64), np.arange(500, dtype=np.int64)
    want = _tower(w, "item_tower", item) @ _tower(w, "user_tower", np.array([7]))[0]
    for got in _both(model, w, [user, item]):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)
        assert np.argmax(got[0]) == np.argmax(want)


def _encode(w, x):
    h = np.maximum(x @ w["enc.dense_1.weight"].T + w["enc.dense_1.bias"], 0)
    return h @ w["enc.dense_2.weight"].T + w["enc.dense_2.bias"]


def _triplet_inputs(seed, n=6):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, 64)).astype(np.float32) for _ in range(3)]


def test_triplet_distances_are_numpys():
    model = _model("triplet")
    assert model.params == 64 * 32 + 32 + 32 * 16 + 16 == 2_608
    assert set(model.param_shapes()) == {"enc.dense_1.weight", "enc.dense_1.bias",
                                         "enc.dense_2.weight", "enc.dense_2.bias"}
    w = random_weights(model)
    a, p, n = _triplet_inputs(1)
    ea, ep, en = _encode(w, a), _encode(w, p), _encode(w, n)
    want = [((ea - ep) ** 2).sum(axis=1), ((ea - en) ** 2).sum(axis=1)]
    for got in _both(model, w, [a, p, n]):
        for g, r in zip(got, want):
            assert g.shape == (6,)
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    # one encoder: a positive equal to the anchor is at distance 0, whichever branch it takes
    for got in _both(model, w, [a, a.copy(), n]):
        np.testing.assert_array_equal(got[0], np.zeros(6, np.float32))
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def test_triplet_encoder_is_one_set_of_parameters_and_initializers():
    model = _model("triplet")
    module = model.to_torch()
    for call in ("Encoder_1", "Encoder_2"):
        for layer in ("dense_1", "dense_2"):
            for p in ("weight", "bias"):
                assert getattr(module.get_submodule(f"{call}.{layer}"), p) is \
                       getattr(module.get_submodule(f"enc.{layer}"), p)
    assert sum(p.numel() for p in module.parameters()) == 2_608
    proto = model.to_onnx()
    inits = [t.name for t in proto.graph.initializer if t.name in model.param_shapes()]
    assert sorted(inits) == sorted(model.param_shapes()) and len(inits) == len(set(inits)) == 4
    assert sum(int(np.prod(t.dims)) for t in proto.graph.initializer if t.name in inits) == 2_608


class _Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(64, 32), nn.Linear(32, 16)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


def test_triplet_sgd_step_keeps_one_encoder_and_matches_plain_torch():
    model = _model("triplet")
    w = random_weights(model)
    module = model.to_torch(weights=w).train()
    ref = _Encoder()
    ref.load_state_dict({f"l{i}.{p}": _t(w[f"enc.dense_{i}.{p}"]) for i in (1, 2) for p in ("weight", "bias")})
    a, p, n = (_t(v) for v in _triplet_inputs(2, n=16))
    margin = 1.0

    def ref_distances():
        ea, ep, en = ref(a), ref(p), ref(n)
        return ((ea - ep) ** 2).sum(1), ((ea - en) ** 2).sum(1)

    before = module.get_submodule("enc.dense_1").weight.detach().clone()
    for net, fwd in ((module, lambda: module(a, p, n)), (ref, ref_distances)):
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        opt.zero_grad()
        d_pos, d_neg = fwd()
        loss = F.relu(d_pos - d_neg + margin).mean()
        assert float(loss.detach()) > 0   # some triplets are active, so the weights move
        loss.backward()
        opt.step()
    enc = module.get_submodule("enc.dense_1")
    assert module.get_submodule("Encoder_1.dense_1").weight is enc.weight
    assert module.get_submodule("Encoder_2.dense_1").weight is enc.weight
    assert not torch.equal(before, enc.weight)
    for i in (1, 2):
        for q in ("weight", "bias"):
            torch.testing.assert_close(getattr(module.get_submodule(f"enc.dense_{i}"), q),
                                       getattr(getattr(ref, f"l{i}"), q), rtol=1e-5, atol=1e-6)
    # the trained encoder deploys to ONNX and gives the NumPy distances of the trained weights
    trained = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert set(trained) == set(model.param_shapes())
    xs = [v.numpy() for v in (a, p, n)]
    ea, ep, en = (_encode(trained, v) for v in xs)
    outs, _ = run_ort(model, trained, xs)
    np.testing.assert_allclose(outs[0], ((ea - ep) ** 2).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[1], ((ea - en) ** 2).sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 5])
def test_triplet_distances_at_two_batch_sizes(batch):
    model = _model("triplet")
    w = random_weights(model, seed=3)
    a, p, n = _triplet_inputs(10 + batch, n=batch)
    ea = _encode(w, a)
    for got in _both(model, w, [a, p, n]):
        np.testing.assert_allclose(got[0], ((ea - _encode(w, p)) ** 2).sum(1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], ((ea - _encode(w, n)) ** 2).sum(1), rtol=1e-5, atol=1e-5)
