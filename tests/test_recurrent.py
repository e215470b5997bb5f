"""Recurrent layers: torch's layouts and counts, the textbook variants against NumPy
references of the seed equations, the checks people need, trained weights into ONNX."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from specfiles import ROOT
from support import make_inputs, random_weights, run_ort, run_torch


def _model(body: str, inputs: str = "input x: f32[N, T, 10]"):
    return dslc.load(f"model M {{\n {inputs}\n {body}\n}}").models["M"]


@pytest.mark.parametrize("snippet, ref", [
    ("rnn(20)", lambda nn: nn.RNN(10, 20)),
    ("rnn(20, nonlinearity=relu, bias=false, layers=3)", lambda nn: nn.RNN(10, 20, 3, "relu", bias=False)),
    ("gru(20, bidirectional=true)", lambda nn: nn.GRU(10, 20, bidirectional=True)),
    ("lstm(20, layers=2, bidirectional=true)", lambda nn: nn.LSTM(10, 20, 2, bidirectional=True)),
])
def test_parameters_are_torchs(snippet, ref):
    import torch.nn as nn
    m = _model(f"output y = x -> {snippet}")
    want = {k: tuple(v.shape) for k, v in ref(nn).state_dict().items()}
    got = {k.split(".", 1)[1]: v for k, v in m.param_shapes().items()}
    assert got == want


def test_embedding_against_torch():
    import torch
    m = _model("output y = ids -> embedding(20, 6, padding_idx=0)", "input ids: i64[N, T]")
    assert m.params == torch.nn.Embedding(20, 6).weight.numel()
    assert not m.weights()[next(iter(m.param_shapes()))][0].any()       # the padding row
    xs = make_inputs(m, {"N": 2, "T": 5})
    w = random_weights(m)
    np.testing.assert_allclose(run_torch(m, w, xs)[0], run_ort(m, w, xs)[0][0], atol=1e-6)


def _sig(v):
    return 1 / (1 + np.exp(-v))


def test_reset_before_gru_follows_the_slides():
    """000/001: relevance gate r applied to h before the product, update gate u with
    h = u * h_tilde + (1 - u) * h_prev. dslc's z gate is 1 - u (torch and ONNX keep z)."""
    m = _model("output y = x -> gru(4, reset=before)", "input x: f32[N, T, 3]")
    w = random_weights(m)
    W, R = w["gru_1.weight_ih_l0"], w["gru_1.weight_hh_l0"]
    bi, bh = w["gru_1.bias_ih_l0"], w["gru_1.bias_hh_l0"]
    H = 4
    Wr, Wz, Wc = W[:H], W[H:2 * H], W[2 * H:]
    Rr, Rz, Rc = R[:H], R[H:2 * H], R[2 * H:]
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    h = np.zeros((2, H))
    ys = []
    for t in range(5):
        r = _sig(x[:, t] @ Wr.T + h @ Rr.T + bi[:H] + bh[:H])
        u = _sig(-(x[:, t] @ Wz.T + h @ Rz.T + bi[H:2 * H] + bh[H:2 * H]))
        h_tilde = np.tanh(x[:, t] @ Wc.T + (r * h) @ Rc.T + bi[2 * H:] + bh[2 * H:])
        h = u * h_tilde + (1 - u) * h
        ys.append(h)
    ref = np.stack(ys, axis=1)
    np.testing.assert_allclose(run_torch(m, w, [x])[0], ref, atol=1e-5)
    np.testing.assert_allclose(run_ort(m, w, [x])[0][0], ref, atol=1e-5)


def test_peephole_lstm_follows_the_slides():
    """001: the input and forget gates see the previous cell, the output gate the new one."""
    m = _model("output y, h, c = x -> lstm(3, peephole=true, state=true)", "input x: f32[N, T, 2]")
    w = random_weights(m)
    W, R = w["lstm_1.weight_ih_l0"], w["lstm_1.weight_hh_l0"]
    b = w["lstm_1.bias_ih_l0"] + w["lstm_1.bias_hh_l0"]
    P = w["lstm_1.weight_ph_l0"]
    H = 3
    x = np.random.default_rng(1).standard_normal((2, 4, 2)).astype(np.float32)
    h, c = np.zeros((2, H)), np.zeros((2, H))
    ys = []
    for t in range(4):
        g = x[:, t] @ W.T + h @ R.T + b
        i = _sig(g[:, :H] + P[:H] * c)
        f = _sig(g[:, H:2 * H] + P[H:2 * H] * c)
        c = f * c + i * np.tanh(g[:, 2 * H:3 * H])
        o = _sig(g[:, 3 * H:] + P[2 * H:] * c)
        h = o * np.tanh(c)
        ys.append(h)
    for out in (run_torch(m, w, [x]), run_ort(m, w, [x])[0]):
        np.testing.assert_allclose(out[0], np.stack(ys, axis=1), atol=1e-5)
        np.testing.assert_allclose(out[2][0], c, atol=1e-5)


def test_bidirectional_width_is_checked_downstream():
    p = dslc.check_text("""
    block Head(x: [N, T, 20]) { return x -> dense(2) }
    model M { input x: f32[N, T, 10]
              output y = x -> lstm(20, bidirectional=true) -> Head }""")
    assert [d.code for d in p.errors] == ["E302"] and "40" in p.errors[0].got


@pytest.mark.parametrize("lengths, code", [("f32[N]", "E306"), ("i64[N, T]", "E302"),
                                           ("i64[M]", "E302")])
def test_lengths_dtype_and_shape(lengths, code):
    p = dslc.check_text(f"""model M {{ input x: f32[N, T, 4]
        input len: {lengths}
        output y = x -> gru(8, lengths=len) }}""")
    assert [d.code for d in p.errors] == [code]


def test_initial_state_must_be_tensors():
    p = dslc.check_text("model M { input x: f32[N, T, 4]\n output y = x -> gru(8, initial=3) }")
    assert [d.code for d in p.errors] == ["E205"]


def test_trained_seq2seq_weights_reach_onnx():
    import torch
    m = dslc.load(ROOT / "specs" / "seq" / "seq2seq.dl").models["Seq2Seq"]
    module = m.to_torch(seed=0)
    env = {"N": 4, "S": 6, "T": 5}
    xs = make_inputs(m, env)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(3):
        loss = module(*[torch.from_numpy(x) for x in xs]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    trained = module.state_dict()
    np.testing.assert_allclose(run_torch(m, trained, xs)[0], run_ort(m, trained, xs)[0][0], atol=1e-5)
