"""dslc import (dslc/onnx_import): ONNX graphs back to specs. Every model of every spec under
specs/ (but the ir-only ones, which have no ONNX graph) round-trips through dslc's own ONNX
backend (same parameter and buffer counts, node kinds, parameter shapes and output shapes at
the spec's parity sizes), except the models listed in NOT_IMPORTED with the ONNX op that stops
them; a subset also computes the same numbers on onnxruntime with the imported weights. torch.onnx.export graphs of a small MLP and CNN import
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
from dslc.backends.onnx.builder import build_onnx
from dslc.onnx_import import ImportFailure, import_onnx
from dslc.tools.coverage import imported_as
from specfiles import ROOT, envs, ir_only, valid_specs

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# What stops each model that does not round-trip: the ONNX op of the subgraph dslc's backend
# emits for it, which the importer does not recognise, or "tie": a weight shared in a way tie=
# cannot say (another parameter of the owner, a transformed copy). The three below compute a
# size at run time from the inputs' shapes (Shape, Mul, Div, Concat into Reshape's shape or
# Slice's end), which the importer does not read back into a symbolic size yet.
NOT_IMPORTED: dict = {("ops/runtime_sizes.dl", "SliceParam"): "Slice",
                      # its window reshape is read, but the spec written does not check (E304)
                      ("ops/runtime_sizes.dl", "Window"): "does not check",
                      # the position ops' graphs (Range, Shape, Where) have no dslc reading yet
                      **{("ops/positions.dl", m): op for m, op in (
                          ("CachedLM", "Range"), ("PaddedLM", "Where"), ("Offsets", "Shape"),
                          ("T5Bias", "Range"), ("ShiftedWindows", "Range"), ("Ranges", "Range"))},
                      # attention's new lowering is not read back: rotary positions from
                      # Range, projections=separate's head split from a Reshape of T
                      ("hf/clip_text.dl", "ClipText"): "Reshape",
                      ("hf/clip_text.dl", "ClipTextEos"): "Reshape",
                      ("hf/distilbert.dl", "DistilBert"): "Reshape",
                      ("hf/llama.dl", "Llama"): "Range", ("hf/llama.dl", "LlamaTied"): "Range",
                      ("hf/mistral.dl", "Mistral"): "Range", ("hf/phi.dl", "Phi"): "Range",
                      ("hf/qwen2.dl", "Qwen2"): "Range",
                      # relative_bias's key positions (Range); positional(offset=)'s rows from
                      # the Shape of T (as ops/positions.dl's Offsets)
                      ("hf/t5_encoder.dl", "T5Encoder"): "Range", ("hf/bart.dl", "Bart"): "Shape"}


# Models that import as a shorter graph of the same computation (the importer reads the
# subgraph as one op): compared by their outputs in test_imported_weights_reproduce_the_graph
EQUIVALENT = {("ops/hyper.dl", "Mobile"): "x * sigmoid(x) reads as silu",
              ("ops/hyper.dl", "Grouped"): "x * sigmoid(x) reads as silu",
              ("hf/vit.dl", "ViTModel"): "attention(projections=separate) reads as its matmuls",
              ("hf/whisper_encoder.dl", "WhisperEncoder"): "attention(projections=separate) "
                                                           "reads as its matmuls"}


def _models():
    for path in valid_specs():
        if ir_only(path):
            continue
        yield from ((path, model) for model in load(str(path)).models.values())


def _blocker(message: str) -> str:
    """The op a failure names (`ONNX op Shape has no dslc form`, `node 'x' (Sub): ...`), "tie",
    or "does not check" (the spec the importer wrote)."""
    if "shares a weight" in message:
        return "tie"
    if "does not check" in message:
        return "does not check"
    m = re.search(r"ONNX op (\w+) has no dslc form|^cannot import node '[^']*' \((\w+)\)", message)
    return (m.group(1) or m.group(2)) if m else message


# weight_norm's weight, computed from g and v in the graph, is no constant
NOT_IMPORTED[("seq/tcn.dl", "TCN")] = "Conv"


def _zeros(model) -> dict:
    return {k: np.zeros(s, np.float32) for k, s in {**model.param_shapes(),
                                                      **model.buffer_shapes()}.items()}


def _shapes(model, env) -> dict:
    return {p.name: [d.evaluate(env) for d in p.type.shape] for p in model.outputs}


def _structure(model) -> list:
    return [(imported_as(n.kind), sorted(n.op.params(*n.in_types).values()),
             sorted(n.op.buffers(*n.in_types).values())) for n in model.nodes]


# specs/hf's attention(projections=separate): its query-length Shape node is not read back
NOT_IMPORTED.update({
    # window_partition's reshape to sizes read from its input's shape (H/4 x W/4)
    ("hf/swin.dl", "SwinModel"): "Reshape"})


def test_round_trip_every_spec():
    """Import dslc's ONNX of each spec (zero weights: only the structure is compared) and
    compare the imported IR with the spec's. GPT-2, BERT and VGG-16 included: about 20 s."""
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
        if key in EQUIVALENT:       # a shorter graph of the same numbers (test below)
            continue
        assert _structure(m) == _structure(model), key
        assert [p.type.dtype for p in m.inputs] == [p.type.dtype for p in model.inputs], key
        for env in envs(model, path):
            assert _shapes(m, env) == _shapes(model, env), (key, env)
    assert {k: _blocker(m) for k, m in failures.items()} == NOT_IMPORTED
    assert done >= 100


def _feeds(model, env, rng) -> dict:
    out = {}
    for p in model.inputs:
        shape = [d.evaluate(env) for d in p.type.shape]
        if p.type.dtype.startswith(("i", "u")):     # ids and indices: below every table's size
            out[p.name] = rng.integers(0, 4, shape).astype(np.int64 if p.type.dtype == "i64" else np.int32)
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
           ("autoencoders/tied.dl", "TiedAutoencoder"), ("ops/siamese.dl", "Siamese"),
           ("extras/recurrent_conv.dl", "RecurrentConv"), ("recsys/triplet.dl", "Triplet"),
           ("ops/convolutions.dl", "Conv1d"), ("ops/convolutions.dl", "Conv3d"),
           ("ops/convolutions.dl", "Pools"), ("seeds/topologies.dl", "AdaptivePool"),
           ("extras/moe.dl", "MixtureOfExperts"), ("ops/shaping.dl", "Shaping"),
           ("ops/shaping.dl", "Tiles"), ("math/einsum_attention.dl", "EinsumAttention"),
           ("ops/linalg.dl", "Contract"), ("ops/arith.dl", "Arith"),
           ("ops/elementwise.dl", "Smooth"), ("extras/rbf.dl", "RBFNet"),
           ("ops/sources.dl", "RBF"), ("sets/histnetq.dl", "HistNetQ"), ("seq/jordan.dl", "Jordan"),
           ("seq/peephole_full.dl", "FullPeephole"), ("ops/indexing.dl", "Index"),
           ("ops/convolutions.dl", "Conv2d"), ("transformer/mha.dl", "SelfAttention"),
           ("transformer/encoder_layer.dl", "EncoderLayer"), ("transformer/char_gpt.dl", "CharGPT"),
           ("sets/set_transformer.dl", "SetTransformerSAB"), ("math/isab.dl", "SetTransformer"),
           ("sets/set_transformer.dl", "SetTransformer"), ("ops/hand_attention.dl", "HandAttention"),
           ("ops/combine.dl", "Combine"), ("autoencoders/denoising.dl", "DenoisingAutoencoder"),
           *EQUIVALENT]


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


# attention's options and the Transformer pieces, with numbers: only large models (GPT-2, BERT,
# ViT) use most of them, and the round trip compares their structure alone
ATTENTION_FORMS = """
model Cross {
    input q: f32[N, T, 16]
    input k: f32[N, S, 8]
    input v: f32[N, S, 12]
    input pad: bool[N, S]
    output y = attention(q, k, v, 4, bias=false, key_padding_mask=pad)
}
model Rotary {
    input x: f32[N, T, 16]
    input pad: bool[N, T]
    output y = attention(x, 4, kv_heads=2, rotary=true, rope_base=500.0, causal=true,
                         key_padding_mask=pad)
}
model Pieces {
    input x: f32[N, T, 16]
    h = x -> class_token -> positional(20, encoding=sinusoidal) -> rmsnorm(eps=0.001)
    output y = sdpa(h, h, h, scale=0.5) -> select(0)
}
"""


@pytest.mark.parametrize("name", ["Cross", "Rotary", "Pieces"])
def test_attention_options_import(name):
    """Separate q/k/v weights, bias=false, padding and causal masks, rotary embedding and
    grouped-query heads, class_token, sinusoidal positions, rmsnorm, sdpa's scale and select
    import with their options and compute the graph's numbers (random weights and biases)."""
    model = load(ATTENTION_FORMS).models[name]
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in model.param_shapes().items()}
    original = model.to_onnx(weights=weights)
    imported = import_onnx(original, "forms.onnx")
    assert [n.op for n in imported.model.nodes] == [n.op for n in model.nodes]
    env, feeds = {"N": 2, "T": 5, "S": 3}, {}
    for p in model.inputs:
        shape = [d.evaluate(env) for d in p.type.shape]
        feeds[p.name] = rng.random(shape) < 0.3 if p.type.dtype == "bool" else \
            rng.standard_normal(shape).astype(np.float32)
    if "pad" in feeds:
        feeds["pad"][:, 0] = False          # each row attends to some key
    want, got = _run(original, feeds), _run(imported.model.to_onnx(weights=imported.weights), feeds)
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


# ties, indices and scans in forms the specs under specs/ do not have
SHARED_FORMS = """
block Tower(x: [N, 8]) {
    return x -> dense(8) -> relu -> dense(8)
}
model Shared {
    input x: f32[N, 8]
    input z: f32[N, 8]
    a = x -> Tower(name=t) -> Tower(tie=t) -> Tower(tie=t)
    b = z -> Tower * 2
    c = b -> dense(8, tie="Tower_3.dense_1") -> dense(8, tie={weight: "t.dense_2"}, name=q)
    output y = a + c
}
model Indexed {
    input x: f32[N, T, 6] where T >= 3
    input idx: i32[N, T, 3]
    input pick: i32[4]
    input labels: i32[N, T]
    input w: f32[6]
    output g = gather(x, idx, axis=2)
    output sel = index_select(x, pick, axis=2)
    output hot = labels -> one_hot(4, dtype=i32)
    v, i = x -> topk(T - 1, axis=1, largest=false)
    output v
    output i
    output s = x -> slice(2, T, axis=1)
    output e = einsum(x, w, "...d,...d->...")
}
block Inner(x: [N, F], h: [N, 3]) {
    o = concat(x, h, axis=1) -> dense(3) -> tanh
    return o, o
}
block Outer(x: [N, F, G], c: [N, 5]) {
    o = concat(x -> scan(Inner) -> flatten, c, axis=1) -> dense(5) -> tanh
    return o, o
}
model Nested {
    input x: f32[N, T, 4, 2]
    output y = x -> scan(Outer, reverse=true)
}
"""


@pytest.mark.parametrize("name", ["Shared", "Indexed", "Nested"])
def test_shared_indexed_and_scanned_forms_import(name):
    """Chains of tied block calls and ties to layers inside calls, i32 indices (their Cast to
    i64), one_hot to i32, topk of a symbolic k, an einsum whose `...` is padded and a reversed
    scan inside a scan's cell import with the original's kinds and parameter count and compute
    its numbers."""
    model = load(SHARED_FORMS).models[name]
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in model.param_shapes().items()}
    original = model.to_onnx(weights=weights)
    imported = import_onnx(original, "forms.onnx")
    assert [n.kind for n in imported.model.nodes] == [n.kind for n in model.nodes]
    assert imported.model.params == model.params
    feeds = _feeds(model, {"N": 2, "T": 5}, rng)
    want, got = _run(original, feeds), _run(imported.model.to_onnx(weights=imported.weights), feeds)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-5)
