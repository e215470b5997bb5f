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


def test_pooling_keeps_the_smaller_last_window():
    model = dslc.load("specs/seeds/maxpool_ceil.dl").models["PoolCeil"]
    x = np.array([[[0.1, 1, 0.2, 0.1, 0, 0.1]]], dtype=np.float32)
    t, o = _both(model, [x])
    np.testing.assert_allclose(t.ravel(), [1, 0.2, 0.1])
    np.testing.assert_allclose(o.ravel(), [1, 0.2, 0.1])


def test_conv_chain_and_dilated_conv_sizes():
    chain = dslc.load("specs/seeds/conv2d_chain.dl").models["ConvChain"]
    assert str(chain.outputs[0].type) == "f32[N, 1, 85, 85]"
    dilated = dslc.load("specs/seeds/conv1d_dilated.dl").models["Dilated"]
    assert str(dilated.outputs[0].type) == "f32[N, 4, 47]"
