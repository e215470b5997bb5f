"""Per-parameter ties (`tie={weight: enc}`), transposed dense weights, and `frozen=` on block
calls and on layers whose parameters have dotted names."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from support import random_weights, run_ort, run_torch

TIED = """model TiedAE {
    input x: f32[N, 6]
    h = x -> dense(4, name=enc) -> sigmoid
    output y = h -> dense(6, tie={weight: enc}, transpose=true, name=dec)
}"""


def test_tied_decoder_uses_the_encoder_weight_transposed():
    model = dslc.load(TIED).model()
    # 003's 6-4-6 autoencoder with tied weights: 24 shared weights + 4 + 6 biases = 34
    assert model.param_shapes() == {"enc.weight": (4, 6), "enc.bias": (4,), "dec.bias": (6,)}
    assert model.params == 34
    w = random_weights(model)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    h = 1 / (1 + np.exp(-(x @ w["enc.weight"].T + w["enc.bias"])))
    want = h @ w["enc.weight"] + w["dec.bias"]
    for got in (run_torch(model, w, [x]), run_ort(model, w, [x])[0]):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
    assert [t.name for t in model.to_onnx(weights=w).graph.initializer
            if t.name.endswith(("weight", "bias"))] == ["enc.weight", "enc.bias", "dec.bias"]


def test_tied_tensor_stays_one_tensor_through_an_optimiser_step():
    model = dslc.load(TIED).model()
    module = model.to_torch()
    assert module.dec.weight is module.enc.weight
    assert sum(p.numel() for p in module.parameters()) == 34
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    before = module.enc.weight.detach().clone()
    module(torch.randn(5, 6)).pow(2).sum().backward()
    opt.step()
    assert module.dec.weight is module.enc.weight and not torch.equal(before, module.enc.weight)


@pytest.mark.parametrize("shape", [(2, 6), (2, 3, 6)])
def test_transposed_dense_alone(shape):
    model = dslc.load(f"model M {{ input x: f32{list(shape)}\n output y = x -> dense(4, transpose=true) }}").model()
    assert model.param_shapes() == {"dense_1.weight": (6, 4), "dense_1.bias": (4,)}
    w = random_weights(model)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    for got in (run_torch(model, w, [x]), run_ort(model, w, [x])[0]):
        np.testing.assert_allclose(got[0], x @ w["dense_1.weight"] + w["dense_1.bias"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decoder, code, fragment, hint", [
    ("dense(6, tie={weight: enc})", "E302", "`weight` is [6, 4], `enc` has [4, 6]", "transpose=true"),
    ("dense(6, tie={kernel: enc}, transpose=true)", "E205", "no parameter `kernel`", None),
    ("dense(6, tie=enc, transpose=true)", "E302", "`bias` is [6]", None),
])
def test_tie_errors(decoder, code, fragment, hint):
    src = TIED.replace("dense(6, tie={weight: enc}, transpose=true, name=dec)", decoder)
    diags = dslc.check_text(src).errors
    assert [d.code for d in diags] == [code] and fragment in diags[0].message, diags[0].short()
    assert diags[0].span.line == 4
    if hint:
        assert hint in diags[0].help


BACKBONE = """block Body(x: [N, F]) { return x -> dense(8) -> relu -> dense(8) }
model Transfer {
    input x: f32[N, 6]
    output y = x -> Body(frozen=true, name=backbone) -> dense(3, name=head)
}"""


def test_frozen_block_call_freezes_every_layer_inside():
    model = dslc.load(BACKBONE).model()
    assert model.params == 56 + 72 + 27 and model.trainable_params == 27
    grads = {n: p.requires_grad for n, p in model.to_torch().named_parameters()}
    assert grads == {"backbone.dense_1.weight": False, "backbone.dense_1.bias": False,
                     "backbone.dense_2.weight": False, "backbone.dense_2.bias": False,
                     "head.weight": True, "head.bias": True}


def test_frozen_reaches_parameters_with_dotted_names():
    model = dslc.load("model M { input x: f32[N, 5, 8]\n output y = x -> attention(2, frozen=true) }").model()
    grads = {n: p.requires_grad for n, p in model.to_torch().named_parameters()}
    assert "attention_1.out_proj.weight" in grads and not any(grads.values())
    assert model.trainable_params == 0


@pytest.mark.parametrize("call, code", [("Body(init=zeros)", "E203"), ("Body(frozen=3)", "E205")])
def test_block_call_options_are_checked(call, code):
    diags = dslc.check_text(BACKBONE.replace("Body(frozen=true, name=backbone)", call)).errors
    assert [d.code for d in diags] == [code] and diags[0].span.line == 4
