"""The Python API: load from path or text, SpecError, the weights bridge after training."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from support import make_inputs, run_ort, run_torch

SPEC = """
model Tiny {
    input a: f32[N, 4]
    input b: f32[N, 3]
    h = concat(a, b, axis=1) -> dense(8) -> relu
    output first = h -> dense(2)
    output second = h -> dense(1) -> sigmoid
}
"""


def test_load_path_and_text(tmp_path):
    f = tmp_path / "t.dl"
    f.write_text(SPEC)
    assert dslc.load(f).models["Tiny"].params == dslc.load(SPEC).models["Tiny"].params == 7 * 8 + 8 + 8 * 2 + 2 + 8 + 1


def test_load_raises_spec_error_with_every_diagnostic():
    with pytest.raises(dslc.SpecError) as e:
        dslc.load("model M { input x: f32[N, 2]\n a = x -> dens(2)\n output y = x -> conv9(1) }")
    assert [d.code for d in e.value.diagnostics] == ["E202", "E202"]
    assert "did you mean `dense`" in str(e.value)


def test_missing_file_is_an_os_error():
    with pytest.raises(OSError):
        dslc.load("does/not/exist.dl")


def test_forward_takes_and_returns_declaration_order():
    import torch
    model = dslc.load(SPEC).models["Tiny"]
    module = model.to_torch(seed=3)
    out = module(torch.zeros(5, 4), torch.zeros(5, 3))
    assert isinstance(out, tuple) and [o.shape[1] for o in out] == [2, 1]


def test_trained_weights_reach_onnx():
    import torch
    model = dslc.load(SPEC).models["Tiny"]
    module = model.to_torch(seed=0)
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    a, b = torch.randn(16, 4), torch.randn(16, 3)
    for _ in range(5):
        first, second = module(a, b)
        loss = first.pow(2).mean() + second.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    trained = module.state_dict()
    assert not torch.equal(trained["dense_1.weight"],
                           torch.from_numpy(model.weights(0)["dense_1.weight"]))
    xs = make_inputs(model, {"N": 3})
    t = run_torch(model, trained, xs)
    o, _ = run_ort(model, trained, xs)
    for x, y in zip(t, o):
        np.testing.assert_allclose(x, y, atol=1e-5)
    with torch.no_grad():
        direct = module(*[torch.from_numpy(x) for x in xs])
    np.testing.assert_allclose(direct[0].numpy(), o[0], atol=1e-5)


def test_onnx_model_is_loadable_and_checked():
    import onnx
    proto = dslc.load(SPEC).models["Tiny"].to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 10 and proto.opset_import[0].version == 21
