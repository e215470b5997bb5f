"""The set architectures of specs/sets/ (DeepSets, Set Transformer, HistNetQ) against independent
references, in both backends (the torch module and onnxruntime), at two set sizes:
- the symmetry a set model must have: permuting the set axis S leaves every pooled output
  unchanged (invariance) and permutes the per-element outputs the same way (equivariance);
- DeepSets against NumPy phi -> sum/mean/max -> rho;
- the Set Transformer against a plain-torch one (nn.MultiheadAttention batch_first, LayerNorm,
  Linear; SAB, ISAB and PMA as Lee et al. write them) after a weight copy;
- HistNetQ's histograms against a NumPy formula of the soft binning, summing to 1 over the bins
  for features inside the covered range, and its prevalences summing to 1.
tests/test_specs.py adds the hand counts and torch-vs-onnxruntime parity."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import dslc
from support import random_weights, run_ort, run_torch

SETS = Path(__file__).resolve().parent.parent / "specs" / "sets"
SIZES = (5, 11)


def _model(spec: str, name: str):
    return dslc.load(SETS / f"{spec}.dl").models[name]


def _backends(model, w, xs):
    """Outputs of the torch module and of onnxruntime, each a list in output order."""
    return {"torch": run_torch(model, w, xs), "onnxruntime": run_ort(model, w, xs)[0]}


def _perm(s: int) -> np.ndarray:
    perm = np.random.default_rng(s + 100).permutation(s)
    assert (perm != np.arange(s)).any()
    return perm


def _t(a):
    return torch.from_numpy(np.asarray(a))


def _close(got, want, tol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    diff = float(np.max(np.abs(got - want)))
    assert diff <= tol, f"max |diff| {diff:.3g} > {tol}"
    return diff


# ---- DeepSets -------------------------------------------------------------------------------

DEEPSETS = {"DeepSetsSum": np.sum, "DeepSetsMean": np.mean, "DeepSetsMax": np.max}


def _deepsets_numpy(w, x, pool):
    def dense(h, i):
        return h @ w[f"DeepSet_1.dense_{i}.weight"].T + w[f"DeepSet_1.dense_{i}.bias"]
    phi = np.maximum(dense(np.maximum(dense(x, 1), 0), 2), 0)          # [N, S, 32], per element
    return dense(np.maximum(dense(pool(phi, axis=1), 3), 0), 4)         # rho after pooling


@pytest.mark.parametrize("s", SIZES)
@pytest.mark.parametrize("name", sorted(DEEPSETS))
def test_deepsets_aggregations_are_order_free_and_match_numpy(name, s):
    model = _model("deepsets", name)
    assert model.params == 1_761
    w = random_weights(model)
    x = np.random.default_rng(s).standard_normal((3, s, 4)).astype(np.float32)
    want = _deepsets_numpy(w, x.astype(np.float64), DEEPSETS[name])
    perm = _perm(s)
    for backend, (y,) in _backends(model, w, [x]).items():
        (y_perm,) = _backends(model, w, [x[:, perm]])[backend]
        assert y.shape == (3, 1)
        _close(y_perm, y, 1e-5)
        _close(y, want, 1e-5)
    pooled = [n for n in model.nodes if n.kind in ("sum", "mean", "max")]
    assert [n.kind for n in pooled] == [name[len("DeepSets"):].lower()]
    assert str(pooled[0].in_types[0]) == "f32[N, S, 32]" and str(pooled[0].out_types[0]) == "f32[N, 32]"


def test_deepsets_aggregations_differ():
    """The three models really pool differently (one weight set, one input)."""
    models = {n: _model("deepsets", n) for n in DEEPSETS}
    w = random_weights(models["DeepSetsSum"])
    x = np.random.default_rng(0).standard_normal((3, 6, 4)).astype(np.float32)
    ys = {n: run_torch(m, w, [x])[0] for n, m in models.items()}
    for a in ys:
        for b in ys:
            if a < b:
                assert np.max(np.abs(ys[a] - ys[b])) > 1e-3, (a, b)


def test_deepsets_unknown_aggregation_is_an_error():
    text = (SETS / "deepsets.dl").read_text() + (
        '\nmodel Median {\n    input points: f32[N, S, 4]\n    output y = points -> DeepSet(agg="median")\n}\n')
    program = dslc.check_text(text)
    errors = [d for d in program.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and "unsupported_aggregation" in errors[0].message


# ---- Set Transformer ------------------------------------------------------------------------

class _MAB(nn.Module):
    """MAB(X, Y) = LN(H + rFF(H)), H = LN(X + Multihead(X, Y, Y)) (Lee et al. 2019, eq. 6-7)."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln0, self.ln1, self.ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, x, y):
        h = self.ln0(x + self.att(x, y, y, need_weights=False)[0])
        return self.ln1(h + torch.relu(self.ff(h)))


class _SAB(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.mab = _MAB(d)

    def forward(self, x):
        return self.mab(x, x)


class _ISAB(nn.Module):
    def __init__(self, d=64, m=16):
        super().__init__()
        self.inducing = nn.Parameter(torch.empty(m, d))
        self.mab0, self.mab1 = _MAB(d), _MAB(d)

    def forward(self, x):
        h = self.mab0(self.inducing.expand(x.shape[0], -1, -1), x)
        return self.mab1(x, h)


class _PMA(nn.Module):
    """PMA_k(Z) = MAB(S, rFF(Z)) with k learned seed vectors S."""

    def __init__(self, k, d=64):
        super().__init__()
        self.seeds = nn.Parameter(torch.empty(k, d))
        self.ff, self.mab = nn.Linear(d, d), _MAB(d)

    def forward(self, z):
        return self.mab(self.seeds.expand(z.shape[0], -1, -1), torch.relu(self.ff(z)))


class _SetTransformer(nn.Module):
    def __init__(self, encoder: str, k: int, out: int, d=64):
        super().__init__()
        self.embed = nn.Linear(2, d)
        self.enc = nn.ModuleList([_ISAB(d) if encoder == "ISAB" else _SAB(d) for _ in range(2)])
        self.pma, self.sab, self.head = _PMA(k, d), _SAB(d), nn.Linear(d, out)

    def forward(self, x):
        z = self.embed(x)
        for block in self.enc:
            z = block(z)
        return z, self.head(self.sab(self.pma(z)))


def _mab_state(dst, src, w):
    state = {f"{dst}.att.{p}": w[f"{src}.attention_1.{p}"]
             for p in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")}
    for p in ("weight", "bias"):
        state[f"{dst}.ln0.{p}"] = w[f"{src}.layernorm_1.{p}"]
        state[f"{dst}.ln1.{p}"] = w[f"{src}.layernorm_2.{p}"]
        state[f"{dst}.ff.{p}"] = w[f"{src}.dense_1.{p}"]
    return state


def _set_transformer_reference(name, w):
    encoder, k, out = ("ISAB", 1, 1) if name == "SetTransformer" else ("SAB", 4, 5)
    ref = _SetTransformer(encoder, k, out)
    state = {}
    for p in ("weight", "bias"):
        state[f"embed.{p}"], state[f"head.{p}"] = w[f"dense_1.{p}"], w[f"dense_2.{p}"]
        state[f"pma.ff.{p}"] = w[f"PMA_1.dense_1.{p}"]
    state["pma.seeds"] = w["PMA_1.seeds.weight"]
    state |= _mab_state("pma.mab", "PMA_1.MAB_1", w)
    for i in (0, 1):
        if encoder == "ISAB":
            state[f"enc.{i}.inducing"] = w[f"ISAB_{i + 1}.inducing.weight"]
            state |= _mab_state(f"enc.{i}.mab0", f"ISAB_{i + 1}.MAB_1", w)   # I attends to X
            state |= _mab_state(f"enc.{i}.mab1", f"ISAB_{i + 1}.MAB_2", w)   # X attends to H
        else:
            state |= _mab_state(f"enc.{i}.mab", f"SAB_{i + 1}.MAB_1", w)
    state |= _mab_state("sab.mab", f"SAB_{3 if encoder == 'SAB' else 1}.MAB_1", w)
    assert len(state) == len(w) and {id(v) for v in state.values()} == {id(v) for v in w.values()}, \
        "every dslc weight copied exactly once"
    ref.load_state_dict({key: _t(v) for key, v in state.items()})
    return ref.eval(), k, out


ST = {"SetTransformer": 132_865, "SetTransformerSAB": 89_157}


@pytest.mark.parametrize("s", SIZES)
@pytest.mark.parametrize("name", sorted(ST))
def test_set_transformer_equals_a_plain_torch_one(name, s):
    model = _model("set_transformer", name)
    w = random_weights(model)
    ref, k, out = _set_transformer_reference(name, w)
    assert sum(p.numel() for p in ref.parameters()) == model.params == ST[name]
    x = np.random.default_rng(s).standard_normal((3, s, 2)).astype(np.float32)
    with torch.no_grad():
        enc_want, y_want = (t.numpy() for t in ref(_t(x)))
    y_want = y_want.reshape(3, out) if k == 1 else y_want
    for backend, (enc, y) in _backends(model, w, [x]).items():
        assert enc.shape == (3, s, 64) and y.shape == ((3, out) if k == 1 else (3, k, out))
        _close(enc, enc_want, 1e-5)
        _close(y, y_want, 1e-5)


@pytest.mark.parametrize("s", SIZES)
@pytest.mark.parametrize("name", sorted(ST))
def test_set_transformer_encoder_is_equivariant_and_output_invariant(name, s):
    model = _model("set_transformer", name)
    w = random_weights(model)
    x = np.random.default_rng(s).standard_normal((3, s, 2)).astype(np.float32)
    perm = _perm(s)
    plain, permuted = _backends(model, w, [x]), _backends(model, w, [x[:, perm]])
    for backend in plain:
        (enc, y), (enc_p, y_p) = plain[backend], permuted[backend]
        _close(enc_p, enc[:, perm], 1e-5)          # SAB / ISAB: the outputs follow the elements
        _close(y_p, y, 1e-5)                       # PMA: the pooled output ignores the order


@pytest.mark.parametrize("s", SIZES)
def test_sab_isab_and_pma_blocks_alone(s):
    """Each block on its own, against its plain-torch counterpart: a model made of one block."""
    spec = (SETS / "set_transformer.dl").read_text()
    text = spec[spec.index("block MAB"):spec.index("model SetTransformer(")] + """
model Blocks {
    input x: f32[N, S, 64]
    output sab = x -> SAB
    output isab = x -> ISAB(16)
    output pma = x -> PMA(3)
}
"""
    model = dslc.load(text).model()
    w = random_weights(model)
    sab, isab, pma = _SAB(), _ISAB(), _PMA(3)
    sab.load_state_dict({k: _t(v) for k, v in _mab_state("mab", "SAB_1.MAB_1", w).items()})
    isab.load_state_dict({"inducing": _t(w["ISAB_1.inducing.weight"]),
                          **{k: _t(v) for k, v in _mab_state("mab0", "ISAB_1.MAB_1", w).items()},
                          **{k: _t(v) for k, v in _mab_state("mab1", "ISAB_1.MAB_2", w).items()}})
    pma.load_state_dict({"seeds": _t(w["PMA_1.seeds.weight"]),
                         "ff.weight": _t(w["PMA_1.dense_1.weight"]),
                         "ff.bias": _t(w["PMA_1.dense_1.bias"]),
                         **{k: _t(v) for k, v in _mab_state("mab", "PMA_1.MAB_1", w).items()}})
    x = np.random.default_rng(s).standard_normal((2, s, 64)).astype(np.float32)
    with torch.no_grad():
        want = [m.eval()(_t(x)).numpy() for m in (sab, isab, pma)]
    assert want[2].shape == (2, 3, 64)
    for outs in _backends(model, w, [x]).values():
        for got, ref in zip(outs, want):
            _close(got, ref, 1e-5)


# ---- HistNetQ -------------------------------------------------------------------------------

BINS, FEATURES = 8, 16


def _histnetq_weights(model, feature_scale=1.0):
    """Random weights, the frozen bin steps left at the spec's own init (random_weights perturbs
    every tensor); `feature_scale` scales the last extractor layer: below 1 the sigmoid features
    stay near 1/2, inside the bins' covered range, above 1 they spread to the ends."""
    w = random_weights(model)
    w["SoftHistogram_1.steps.weight"] = model.weights(0)["SoftHistogram_1.steps.weight"].astype(np.float32)
    w["dense_2.weight"] = (w["dense_2.weight"] * feature_scale).astype(np.float32)
    w["dense_2.bias"] = (w["dense_2.bias"] * feature_scale).astype(np.float32)
    return w


def _histnetq_numpy(w, x):
    x = x.astype(np.float64)
    h = np.maximum(x @ w["dense_1.weight"].T + w["dense_1.bias"], 0)
    h = 1 / (1 + np.exp(-(h @ w["dense_2.weight"].T + w["dense_2.bias"])))      # [N, S, F] in (0, 1)
    centres, width = (np.arange(BINS) + 0.5) / BINS, 1 / BINS
    member = np.maximum(1 - np.abs(h[..., None] - centres) / width, 0)          # [N, S, F, B]
    hist = member.mean(axis=1)                                                  # [N, F, B]
    z = np.maximum(hist.reshape(len(x), -1) @ w["dense_3.weight"].T + w["dense_3.bias"], 0)
    z = z @ w["dense_4.weight"].T + w["dense_4.bias"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return h, hist, e / e.sum(axis=1, keepdims=True)


def test_histnetq_counts_and_frozen_centres():
    model = _model("histnetq", "HistNetQ")
    assert model.params == 9_339 and model.trainable_params == 9_339 - BINS
    steps = model.weights(0)["SoftHistogram_1.steps.weight"]
    np.testing.assert_allclose(np.cumsum(steps) - 0.5 / BINS, (np.arange(BINS) + 0.5) / BINS, atol=1e-7)
    module = model.to_torch(seed=0)
    frozen = {k for k, p in module.named_parameters() if not p.requires_grad}
    assert frozen == {"SoftHistogram_1.steps.weight"}
    assert sum(p.numel() for p in module.parameters() if p.requires_grad) == 9_331


@pytest.mark.parametrize("s", (6, 13))
def test_histnetq_histograms_match_the_soft_binning_formula(s):
    model = _model("histnetq", "HistNetQ")
    w = _histnetq_weights(model, feature_scale=8.0)   # features spread over all of (0, 1)
    x = np.random.default_rng(s).standard_normal((4, s, 10)).astype(np.float32)
    h, hist_want, prev_want = _histnetq_numpy(w, x)
    assert ((h < 0.5 / BINS) | (h > 1 - 0.5 / BINS)).any(), "some features near the ends"
    assert (hist_want.sum(axis=(0, 1)) > 0).all(), "every bin filled somewhere"
    perm = _perm(s)
    for backend, (hist, prev) in _backends(model, w, [x]).items():
        hist_p, prev_p = _backends(model, w, [x[:, perm]])[backend]
        assert hist.shape == (4, FEATURES, BINS) and prev.shape == (4, 3)
        _close(hist, hist_want, 1e-5)
        _close(prev, prev_want, 1e-5)
        _close(hist_p, hist, 1e-5)                  # a histogram ignores the order of the set
        _close(prev_p, prev, 1e-5)
        _close(prev.sum(axis=1), np.ones(4), 1e-5)  # prevalences: a distribution over classes
        assert (prev >= 0).all()
        totals = hist.sum(axis=2)                   # half-triangles at the ends lose mass
        assert (totals >= 0.5 - 1e-6).all() and (totals <= 1 + 1e-5).all()


@pytest.mark.parametrize("s", (6, 13))
def test_histnetq_bins_sum_to_one_inside_the_covered_range(s):
    model = _model("histnetq", "HistNetQ")
    w = _histnetq_weights(model, feature_scale=0.05)
    x = np.random.default_rng(s).standard_normal((4, s, 10)).astype(np.float32)
    h, hist_want, _ = _histnetq_numpy(w, x)
    assert ((h > 0.5 / BINS) & (h < 1 - 0.5 / BINS)).all(), "all features inside [c_0, c_B-1]"
    for hist, prev in _backends(model, w, [x]).values():
        _close(hist, hist_want, 1e-5)
        _close(hist.sum(axis=2), np.ones((4, FEATURES)), 1e-5)
        _close(prev.sum(axis=1), np.ones(4), 1e-5)


def test_histnetq_histogram_of_known_values():
    """Features at chosen values (the extractor made to pass them through): a value at a bin's
    centre fills that bin alone, one halfway between two centres fills both by halves."""
    model = _model("histnetq", "HistNetQ")
    w = _histnetq_weights(model)
    # dense_1 unit 0: x + 10 (kept by the ReLU); dense_2 feature 0: that - 10, the others 0
    for k in ("dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"):
        w[k] = np.zeros_like(w[k])
    w["dense_1.weight"][0, 0], w["dense_1.bias"][0] = 1.0, 10.0
    w["dense_2.weight"][0, 0], w["dense_2.bias"][0] = 1.0, -10.0
    values = np.array([2.5, 3.5, 2.0, 7.0]) / BINS    # centres of bins 2 and 3; 1|2 and 6|7
    x = np.zeros((1, 4, 10), np.float32)
    x[0, :, 0] = np.log(values / (1 - values))        # sigmoid(logit(v)) = v
    want = np.array([0, 0.5, 1 + 0.5, 1, 0, 0, 0.5, 0.5]) / 4     # memberships summed / S
    half = np.array([0, 0, 0, 0.5, 0.5, 0, 0, 0])     # sigmoid(0) = 4/8: between bins 3 and 4
    for hist, prev in _backends(model, w, [x]).values():
        _close(hist[0, 0], want, 1e-5)
        for f in range(1, FEATURES):
            _close(hist[0, f], half, 1e-5)
