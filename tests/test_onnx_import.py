"""dslc import (dslc/onnx_import): ONNX graphs back to specs. Every spec under specs/ round-trips
through dslc's own ONNX backend (same parameter and buffer counts, node kinds, parameter
shapes and output shapes at the spec's parity sizes), except the models listed in
NOT_IMPORTED with the ONNX op that stops them; a subset also computes the same numbers on
onnxruntime with the imported weights. torch.onnx.export graphs of a small MLP and CNN import
with torch's parameter counts and outputs."""
from __future__ import annotations

import io
import re
import subprocess
import sys
from math import prod

import numpy as np
import pytest

from dslc import load
from dslc.backends.onnx import build_onnx
from dslc.onnx_import import ImportFailure, import_onnx
from specfiles import ROOT, envs, ir_only, valid_specs

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

LARGE = 5_000_000     # models above this many parameters are left to tests/test_specs.py

# What stops each model that does not round-trip: the ONNX op of the subgraph dslc's backend
# emits for it, which the importer does not recognise (Shape-driven expands, masks and
# positional tables, adaptive pools' Slices, Scan bodies, Split of attention's packed
# projection, Einsum, Unsqueeze of stack/tile/broadcasting, log1p's IsInf), or "tie": weights
# shared between layers (tie=, a block called with tie=), which the importer refuses rather
# than duplicate.
NOT_IMPORTED = {
    ("autoencoders/denoising.dl", "DenoisingAutoencoder"): "Expand",
    ("autoencoders/tied.dl", "TiedAutoencoder"): "tie",
    ("extras/moe.dl", "MixtureOfExperts"): "Unsqueeze",
    ("extras/rbf.dl", "RBFNet"): "Unsqueeze",
    ("extras/recurrent_conv.dl", "RecurrentConv"): "tie",
    ("math/einsum_attention.dl", "EinsumAttention"): "Einsum",
    ("math/isab.dl", "SetTransformer"): "Expand",
    ("ops/arith.dl", "Arith"): "Where",
    ("ops/combine.dl", "Combine"): "Split",
    ("ops/convolutions.dl", "Conv1d"): "Slice",
    ("ops/convolutions.dl", "Conv3d"): "Slice",
    ("ops/convolutions.dl", "Pools"): "Slice",
    ("ops/elementwise.dl", "Smooth"): "IsInf",
    ("ops/hand_attention.dl", "HandAttention"): "ConstantOfShape",
    ("ops/indexing.dl", "Index"): "GatherElements",
    ("ops/linalg.dl", "Contract"): "Einsum",
    ("ops/shaping.dl", "Shaping"): "Unsqueeze",
    ("ops/shaping.dl", "Tiles"): "Unsqueeze",
    ("ops/siamese.dl", "Siamese"): "tie",
    ("ops/sources.dl", "RBF"): "Sub",       # param([...]): a free tensor, a constant operand
    ("recsys/triplet.dl", "Triplet"): "tie",
    ("seeds/topologies.dl", "AdaptivePool"): "Slice",
    ("seq/jordan.dl", "Jordan"): "Scan",
    ("seq/peephole_full.dl", "FullPeephole"): "ConstantOfShape",
    ("sets/histnetq.dl", "HistNetQ"): "Unsqueeze",
    ("sets/set_transformer.dl", "SetTransformer"): "Expand",
    ("sets/set_transformer.dl", "SetTransformerSAB"): "Split",
    ("transformer/char_gpt.dl", "CharGPT"): "Shape",
    ("transformer/encoder_layer.dl", "EncoderLayer"): "Split",
    ("transformer/mha.dl", "SelfAttention"): "Split",
}


def _models():
    for path in valid_specs():
        if ir_only(path):
            continue
        for model in load(str(path)).models.values():
            if model.params <= LARGE:
                yield path, model


def _blocker(message: str) -> str:
    """The op a failure names (`ONNX op Shape has no dslc form`, `node 'x' (Sub): ...`), or
    "tie"."""
    if "shares a weight" in message:
        return "tie"
    m = re.search(r"ONNX op (\w+) has no dslc form|^cannot import node '[^']*' \((\w+)\)", message)
    return (m.group(1) or m.group(2)) if m else message


def _canon(kind: str) -> str:
    """Kinds the graph cannot tell apart: a rank-specific pool or batchnorm and its generic
    form; transpose and a permute that swaps two axes; flatten of inner dims, a Reshape
    like any other; a noise source read from its model
    input (`noise=input`: an Identity of `<name>_noise`) and dropout, the Identity it imports
    as (the input stays an input)."""
    kind = re.sub(r"^(maxpool|avgpool|batchnorm)[123]d$", r"\1", kind)
    return {"transpose": "permute", "flatten": "reshape", "randn_like": "dropout", "rand_like": "dropout",
            "bernoulli": "dropout"}.get(kind, kind)


def _zeros(model) -> dict:
    return {k: np.zeros(s, np.float32) for k, s in {**model.param_shapes(),
                                                      **model.buffer_shapes()}.items()}


def _shapes(model, env) -> dict:
    return {p.name: [d.evaluate(env) for d in p.type.shape] for p in model.outputs}


def _structure(model) -> list:
    return [(_canon(n.kind), sorted(n.op.params(*n.in_types).values()),
             sorted(n.op.buffers(*n.in_types).values())) for n in model.nodes]


def test_round_trip_every_spec():
    """Import dslc's ONNX of each spec (zero weights: only the structure is compared) and
    compare the imported IR with the spec's."""
    failures, done = {}, 0
    for path, model in _models():
        key = (str(path.relative_to(ROOT / "specs")), model.name)
        try:
            imported = import_onnx(build_onnx(model, _zeros(model), check=False), path.name)
        except ImportFailure as e:
            failures[key] = str(e)
            continue
        done += 1
        m = imported.model
        assert (m.params, m.buffers) == (model.params, model.buffers), key
        assert _structure(m) == _structure(model), key
        assert [p.type.dtype for p in m.inputs] == [p.type.dtype for p in model.inputs], key
        for env in envs(model, path):
            assert _shapes(m, env) == _shapes(model, env), (key, env)
    assert {k: _blocker(m) for k, m in failures.items()} == NOT_IMPORTED
    assert done >= 25


def _feeds(model, env, rng) -> dict:
    out = {}
    for p in model.inputs:
        shape = [d.evaluate(env) for d in p.type.shape]
        if p.type.dtype.startswith(("i", "u")):
            out[p.name] = rng.integers(0, 10, shape).astype(np.int64 if p.type.dtype == "i64" else np.int32)
        else:
            out[p.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def _run(proto, feeds) -> dict:
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, feeds)))


NUMERIC = [("seeds/lenet.dl", "LeNet"), ("seeds/inception.dl", "Inception2"),
           ("seeds/xception.dl", "Xception"), ("ops/shapes.dl", "Shapes"), ("math/vae.dl", "VAE"),
           ("extras/mdn.dl", "MDN"), ("seeds/transposed.dl", "Upsampler"),
           ("zoo/unet.dl", "UNet"), ("seeds/maxpool_ceil.dl", "PoolCeil"),
           ("ops/reduce.dl", "SetPool"), ("ops/reduce.dl", "Moments"),
           ("ops/elementwise.dl", "Integer"), ("extras/maxout.dl", "MaxoutSeq"),
           ("seq/torch_forms.dl", "BiStackedGRU"), ("seq/variants.dl", "Peephole"),
           ("seq/variants.dl", "PeepholeBi"), ("ops/activations.dl", "Activations"),
           ("ops/resample.dl", "Resample"), ("ops/resample.dl", "Shuffle"),
           ("ops/convolutions.dl", "Conv2d")]


@pytest.mark.parametrize("spec,name", NUMERIC)
def test_imported_weights_reproduce_the_graph(spec, name):
    """The imported spec compiled with the imported weights computes the original graph's
    outputs on onnxruntime (random weights, batchnorm statistics included)."""
    path = ROOT / "specs" / spec
    model = load(str(path)).models[name]
    weights = model.weights(seed=3)
    rng = np.random.default_rng(0)
    for k in model.buffer_shapes():
        weights[k] = rng.uniform(0.5, 1.5, weights[k].shape).astype(np.float32)
    original = model.to_onnx(weights=weights)
    imported = import_onnx(original, path.name)
    env = envs(model, path)[0]
    feeds = _feeds(model, env, rng)
    want, got = _run(original, feeds), _run(imported.model.to_onnx(weights=imported.weights), feeds)
    assert set(want) == set(got)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5)


def test_resnet_blocks_fold():
    """ResNet-34's units become blocks: the three identical first units one `* 3`, the
    others calls named as the graph names them."""
    path = ROOT / "specs" / "zoo" / "resnet34.dl"
    model = load(str(path)).models["ResNet34"]
    text = import_onnx(build_onnx(model, _zeros(model), check=False), path.name).text
    assert "-> BasicUnit * 3 ->" in text
    assert text.count("block ") == 8            # the stem and seven distinct units
    assert "BasicUnit5(name=BasicUnit_13)" in text


def _torch_export(module, x, dynamic):
    torch = pytest.importorskip("torch")
    f = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module.eval(), x, f, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}} if dynamic else None)
    return onnx.load_from_string(f.getvalue())


def _torch_models():
    torch = pytest.importorskip("torch")
    from torch import nn
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(),
                        nn.Linear(16, 4), nn.Softmax(dim=1))
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, stride=2), nn.LeakyReLU(0.2), nn.Flatten(),
                        nn.Linear(16 * 3 * 3, 32), nn.BatchNorm1d(32), nn.ReLU6(),
                        nn.Dropout(0.3), nn.Linear(32, 10))
    return [(mlp, torch.randn(5, 20)), (cnn, torch.randn(5, 3, 16, 16))]


@pytest.mark.parametrize("index", [0, 1], ids=["mlp", "cnn"])
def test_torch_export(index):
    """torch.onnx.export's Gemm/Conv/Relu/MaxPool/Flatten/... import with torch's parameter
    count and compute torch's outputs (the imported weights through dslc's ONNX)."""
    module, x = _torch_models()[index]
    proto = _torch_export(module, x, dynamic=True)
    imported = import_onnx(proto, "torch.onnx")
    torch_params = sum(p.numel() for p in module.parameters())
    bn_stats = sum(b.numel() for n, b in module.named_buffers() if "running" in n)
    assert imported.model.params == torch_params
    assert imported.model.buffers == bn_stats
    assert str(imported.model.inputs[0].type.shape[0]) == "N"
    got = _run(imported.model.to_onnx(weights=imported.weights), {"x": x.numpy()})["y"]
    np.testing.assert_allclose(got, module(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def _dslc(*args, cwd):
    return subprocess.run([sys.executable, "-m", "dslc", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_cli_import_writes_spec_and_weights(tmp_path):
    path = ROOT / "specs" / "seeds" / "lenet.dl"
    model = load(str(path)).models["LeNet"]
    (tmp_path / "lenet.onnx").write_bytes(model.to_onnx(seed=1).SerializeToString())
    r = _dslc("import", "lenet.onnx", "-o", "out/lenet.dl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    weights = dict(np.load(tmp_path / "out" / "lenet.weights.npz"))
    assert sorted(weights) == sorted(model.param_shapes())
    assert sum(prod(w.shape) for w in weights.values()) == model.params
    check = _dslc("check", "out/lenet.dl", cwd=tmp_path)
    assert check.returncode == 0 and "61,706 parameters" in check.stdout, check.stdout


def test_cli_unsupported_op_is_one_line(tmp_path):
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="hm")], "G", [x], [y])
    (tmp_path / "g.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    r = _dslc("import", "g.onnx", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "ONNX op Hardmax" in r.stderr and "'hm'" in r.stderr and "Gemm" in r.stderr
    assert not (tmp_path / "g.dl").exists()


@pytest.mark.parametrize("content,fragment", [
    (None, "No such file"), (b"not a protobuf at all", "is not an ONNX model")])
def test_cli_bad_file_is_one_line(tmp_path, content, fragment):
    if content is not None:
        (tmp_path / "m.onnx").write_bytes(content)
    r = _dslc("import", "m.onnx", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and fragment in r.stderr, r.stderr


def test_graph_without_inputs_is_one_line(tmp_path):
    from onnx import TensorProto, helper, numpy_helper
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    c = helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(np.ones(2, np.float32)))
    (tmp_path / "c.onnx").write_bytes(helper.make_model(helper.make_graph([c], "G", [], [y]))
                                      .SerializeToString())
    r = _dslc("import", "c.onnx", cwd=tmp_path)
    assert r.returncode == 2 and "has no inputs" in r.stderr and r.stderr.count("\n") == 1
