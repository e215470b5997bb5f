"""The seed exercises whose answers are values, not counts: XOR and the backprop example."""
from __future__ import annotations

import numpy as np

import dslc
from support import run_ort, run_torch

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def _both(model, xs):
    w = model.weights()
    return run_torch(model, w, xs)[0], run_ort(model, w, xs)[0][0]


def test_xor_with_the_texts_weights():
    model = dslc.load("specs/seeds/xor.dl").models["XOR"]
    t, o = _both(model, [XOR_X])
    assert t.ravel().tolist() == [0, 1, 1, 0]
    assert o.ravel().tolist() == [0, 1, 1, 0]


def test_backprop_forward_pass_gives_three():
    model = dslc.load("specs/seeds/backprop.dl").models["Backprop"]
    t, o = _both(model, [np.array([[1, -2]], dtype=np.float32)])
    assert t.item() == 3 and o.item() == 3
    assert set(model.param_shapes()) == {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}
