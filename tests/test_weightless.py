"""Weightless ONNX graphs (`compile --no-weights`, `to_onnx(weightless=True)`; issue 10, item
4): every parameter and buffer is a graph input of its dtype and shape, named as in the
state_dict; nothing is drawn, so a graph of any size is written at once. Fed the weights, the
graph computes what the torch module with those weights does."""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import dslc
from specfiles import ROOT
from support import cli

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
SPECS = ROOT / "specs"


def _inputs(proto) -> dict:
    return {i.name: (i.type.tensor_type.elem_type,
                     [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim])
            for i in proto.graph.input}


@pytest.mark.parametrize("spec,name", [("zoo/resnet.dl", "ResNet18"),
                                       ("seq/torch_forms.dl", "BiStackedGRU"),
                                       ("autoencoders/tied.dl", "TiedAutoencoder")])
def test_fed_weights_compute_what_torch_does(spec, name):
    """Batchnorm statistics, a recurrent layer's gate reordering (Gathers in the graph) and a
    tied weight (one input read twice) all come from the fed inputs."""
    m = dslc.load(SPECS / spec).models[name]
    proto = m.to_onnx(weightless=True)
    onnx.checker.check_model(proto, full_check=True)
    shapes = {**m.param_shapes(), **m.buffer_shapes()}
    declared = _inputs(proto)
    assert {k: v[1] for k, v in declared.items() if k in shapes} == \
        {k: list(s) for k, s in shapes.items()}
    assert set(declared) == set(shapes) | {p.name for p in m.inputs}
    # left as initializers: shapes and gate indices, nothing named as a weight
    assert not {t.name for t in proto.graph.initializer} & set(shapes)
    assert sum(t.ByteSize() for t in proto.graph.initializer) < 0.1 * 4 * (m.params + m.buffers)
    weights = m.weights(seed=2)
    rng = np.random.default_rng(0)
    for k in m.buffer_shapes():
        weights[k] = rng.uniform(0.5, 1.5, weights[k].shape).astype(np.float32)
    feeds = {}
    for p in m.inputs:
        shape = [2 if not d.is_const() else d.value for d in p.type.shape]
        if p.type.dtype.startswith("f"):
            feeds[p.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            feeds[p.name] = rng.integers(1, 3, shape).astype(np.int64)
    if name == "ResNet18":
        feeds[m.inputs[0].name] = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    got = ort.InferenceSession(proto.SerializeToString()).run(
        None, {**feeds, **{k: v for k, v in weights.items() if k in declared}})
    module = m.to_torch(weights=weights).eval()
    with torch.no_grad():
        want = module(*[torch.from_numpy(feeds[p.name]) for p in m.inputs])
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5)


def test_half_precision_inputs_take_the_stored_dtype():
    m = dslc.load(SPECS / "seeds" / "lenet.dl").models["LeNet"]
    declared = _inputs(m.to_onnx(weightless=True, dtype="f16"))
    assert declared["dense_1.weight"][0] == onnx.TensorProto.FLOAT16
    assert declared["image"][0] == onnx.TensorProto.FLOAT16


def test_gpt2_xl_is_planned_without_its_weights(capsys, tmp_path):
    """1,557,611,200 parameters (6.2 GB in f32): the graph alone, a few hundred KB."""
    out = tmp_path / "xl.onnx"
    code, text, err = cli(capsys, "compile", SPECS / "transformer" / "gpt2_sizes.dl", "--model",
                          "GPT2XL", "--target", "onnx", "--no-weights", "-o", out)
    assert code == 0, err
    assert "1,557,611,200 parameters as graph inputs" in text
    assert out.stat().st_size < 1_000_000 and not (tmp_path / "xl.onnx.data").exists()
    proto = onnx.load(out)
    assert len(proto.graph.input) == 1 + len(dslc.load(SPECS / "transformer" / "gpt2_sizes.dl")
                                             .models["GPT2XL"].param_shapes())


@pytest.mark.parametrize("extra", [["--target", "torch"], ["--target", "onnx", "--external-data"],
                                   ["--target", "onnx", "--weights", "w.npz"]])
def test_no_weights_refuses_what_holds_weights(capsys, tmp_path, extra):
    code, _, err = cli(capsys, "compile", SPECS / "seeds" / "mlp.dl", "--no-weights", *extra,
                       "-o", tmp_path / "out")
    assert code == 2 and "--no-weights" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
