"""The general recurrence: `scan` over a cell block, in torch (a loop) and ONNX (Scan)."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from specfiles import ROOT
from support import parity, random_weights, run_ort, run_torch


def _sig(v):
    return 1 / (1 + np.exp(-v))


def test_full_matrix_peephole_lstm_follows_the_slides():
    m = dslc.load(ROOT / "specs" / "seq" / "peephole_full.dl").models["FullPeephole"]
    w = random_weights(m)

    def lin(name, v):
        p = f"scan_1.PeepholeStep_1.{name}"
        return v @ w[f"{p}.weight"].T + w[f"{p}.bias"]
    x = np.random.default_rng(3).standard_normal((2, 4, 10)).astype(np.float32)
    h, c = np.zeros((2, 16)), np.zeros((2, 16))
    hs = []
    for t in range(4):
        chx = np.concatenate([c, h, x[:, t]], axis=1)
        u, f = _sig(lin("update", chx)), _sig(lin("forget", chx))
        c_new = u * np.tanh(lin("candidate", np.concatenate([h, x[:, t]], axis=1))) + f * c
        o = _sig(lin("output", np.concatenate([c_new, h, x[:, t]], axis=1)))
        h, c = o * np.tanh(c_new), c_new
        hs.append(h)
    for out in (run_torch(m, w, [x]), run_ort(m, w, [x])[0]):
        np.testing.assert_allclose(out[0], np.stack(hs, axis=1), atol=1e-5)
        np.testing.assert_allclose(out[2], c, atol=1e-5)


def test_onnx_uses_one_scan_with_a_dynamic_time_axis():
    m = dslc.load(ROOT / "specs" / "seq" / "jordan.dl").models["Jordan"]
    g = m.to_onnx().graph
    assert [n.op_type for n in g.node].count("Scan") == 1
    assert g.input[0].type.tensor_type.shape.dim[1].dim_param == "T"
    assert m.params == 74      # shared by every step: independent of T


def test_reverse_scan_matches_reversed_time():
    src = """
    block Acc(x: [N, 3], s: [N, 3]) {
        new = (x + s) -> dense(3)
        return new, new
    }
    model M { input x: f32[N, T, 3]
              output fwd = x -> scan(Acc, name=f)
              output bwd = x -> scan(Acc, reverse=true, name=b) }"""
    m = dslc.load(src).models["M"]
    w = random_weights(m)
    w["b.Acc_1.dense_1.weight"], w["b.Acc_1.dense_1.bias"] = w["f.Acc_1.dense_1.weight"], w["f.Acc_1.dense_1.bias"]
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    for fwd, bwd in (run_torch(m, w, [x]), run_ort(m, w, [x])[0]):
        rev = run_torch(m, w, [x[:, ::-1].copy()])[0]
        np.testing.assert_allclose(bwd, rev[:, ::-1], atol=1e-5)
    parity(m, {"N": 2, "T": 4})


@pytest.mark.parametrize("cell, code, fragment", [
    ("block C(x: [N, 4], s: [N, 2]) { return x -> dense(2) }", "E208", "new state"),
    ("block C(x: [N, 4], s: [N, 2]) { y = x -> dense(3)\n return y, y }", "E302", "changes state"),
    ("block C(x: [N, 4], s: [N, K]) { y = x -> dense(2)\n return y, y }", "E304", "sizes"),
])
def test_cell_contract_errors(cell, code, fragment):
    p = dslc.check_text(cell + "\nmodel M { input x: f32[N, T, 4]\n output y = x -> scan(C) }")
    assert [d.code for d in p.errors] == [code] and fragment in p.errors[0].message


def test_scan_needs_a_block():
    p = dslc.check_text("model M { input x: f32[N, T, 4]\n output y = x -> scan(dense(3)) }")
    assert [d.code for d in p.errors] == ["E205"]


def test_compiled_scan_module_pickles(tmp_path):
    import torch
    m = dslc.load(ROOT / "specs" / "seq" / "jordan.dl").models["Jordan"]
    torch.save(m.to_torch(), tmp_path / "j.pt")
    module = torch.load(tmp_path / "j.pt", weights_only=False)
    ys, last = module(torch.zeros(2, 3, 4), torch.zeros(2, 2))
    assert ys.shape == (2, 3, 2) and last.shape == (2, 2)
