"""dslc import of graphs exported with a symbolic batch (torch.onnx.export's dynamic_axes),
the forms Hugging Face models write (issue 22): a flatten after a padded convolution (a
batch size onnx's shape inference loses through the Pad), torch's TransformerEncoder
(attention heads split by Reshapes to sizes read from the input's Shape), a class token
`expand(B, -1, -1)` (Equal/Where on the sizes), a causal mask expanded to the batch, type
ids of zeros expanded to the batch and looked up in a table. Each exported graph is
imported, compiled again with the imported weights and run on onnxruntime beside the
original graph, at the exported batch and at another one (a spec that kept the export's
batch fails there); the oracle is the exported graph (torch's numbers as its exporter wrote
them). And ONNX's LRN beyond onnx's own cases (test_import_node_cases.py): even sizes and
1-d signals against the spec's formula in NumPy."""
from __future__ import annotations

import io

import numpy as np
import pytest

from dslc.onnx_import import ImportFailure, import_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
nn = torch.nn


def _run(proto, feeds) -> list:
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def _export(module, x):
    f = io.BytesIO()
    torch.onnx.export(module.eval(), (x,), f, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return onnx.load_from_string(f.getvalue())


def _round_trip(proto, inputs):
    """The imported spec's outputs against the original graph's, on each of `inputs`."""
    imported = import_onnx(proto, "m.onnx")
    again = imported.model.to_onnx(weights=imported.weights)
    for x in inputs:
        want, got = _run(proto, {"x": x}), _run(again, {imported.model.inputs[0].name: x})
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert w.shape == g.shape
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * float(np.abs(w).max()))
    return imported


class PaddedFlatten(nn.Module):
    """conv_variants' tail: a reflect-padded convolution, flatten(2), a 1-d convolution."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.seq = nn.Conv1d(4, 2, 3, padding=1)

    def forward(self, x):
        return self.seq(self.conv(x).flatten(2))


def encoder_layer():
    """torch's TransformerEncoderLayer: its attention's heads split and merged by Reshapes
    to sizes read from the input's Shape."""
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)


class ClassToken(nn.Module):
    """ViT's embeddings: a class token expanded to the batch, a position table added."""

    def __init__(self):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, 6))
        self.pos = nn.Parameter(torch.randn(1, 5, 6))

    def forward(self, x):
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos


class CausalScores(nn.Module):
    """GPT-2's mask: tril(ones) expanded to [B, 1, T, T], where(mask, 0, min) added to the
    scores."""

    def __init__(self):
        super().__init__()
        self.register_buffer("tril", torch.tril(torch.ones(4, 4, dtype=torch.bool))[None, None])

    def forward(self, x):
        s = (x @ x.transpose(-1, -2)).unsqueeze(1)
        mask = self.tril.expand(x.shape[0], 1, 4, 4)
        bias = torch.where(mask, torch.tensor(0.0), torch.tensor(torch.finfo(torch.float32).min))
        return torch.softmax(s + bias, -1)


class TypeIds(nn.Module):
    """BERT's token type ids: a buffer of zeros expanded to the batch, looked up in a table."""

    def __init__(self):
        super().__init__()
        self.words, self.types = nn.Embedding(10, 6), nn.Embedding(2, 6)
        self.register_buffer("type_ids", torch.zeros(1, 5, dtype=torch.long))

    def forward(self, x):
        return self.words(x) + self.types(self.type_ids.expand(x.shape[0], -1))


def _float(*shape):
    return lambda n: np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)


CASES = {"padded_flatten": (PaddedFlatten, _float(3, 5, 5)),
         "encoder_layer": (encoder_layer, _float(4, 8)),
         "class_token": (ClassToken, _float(4, 6)), "causal": (CausalScores, _float(4, 3)),
         "type_ids": (TypeIds, lambda n: np.random.default_rng(n).integers(0, 10, (n, 5)))}


@pytest.mark.parametrize("case", CASES)
def test_symbolic_batch_export(case):
    cls, make = CASES[case]
    torch.manual_seed(0)
    proto = _export(cls(), torch.from_numpy(make(2)))
    imported = _round_trip(proto, [make(2), make(3)])
    assert imported.text.count("input x: ") == 1 and "[N, " in imported.text


def test_class_token_is_a_param_expanded_to_the_batch():
    torch.manual_seed(0)
    imported = _round_trip(_export(ClassToken(), torch.randn(2, 4, 6)), [])
    kinds = [n.kind for n in imported.model.nodes]
    assert kinds[:2] == ["param", "expand"], imported.text
    assert "param([1, 1, 6]" in imported.text and "expand(N, 1, 6)" in imported.text


def _lrn(size, x, **attrs):
    from onnx import TensorProto, helper
    node = helper.make_node("LRN", ["x"], ["y"], name="lrn", size=size, **attrs)
    g = helper.make_graph([node], "G", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      ["N", *x.shape[1:]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _lrn_formula(x, size, alpha, beta, bias):
    """ONNX's LRN as its spec states it: the squares summed over channels c - floor((size -
    1) / 2) ... c + ceil((size - 1) / 2), clipped to the tensor."""
    sq, out = x.astype(np.float64) ** 2, np.empty(x.shape)
    lo, hi = (size - 1) // 2, size // 2
    for c in range(x.shape[1]):
        window = sq[:, max(0, c - lo): c + hi + 1].sum(axis=1)
        out[:, c] = x[:, c] / (bias + alpha / size * window) ** beta
    return out


@pytest.mark.parametrize("size,rank", [(4, 4), (5, 3), (2, 4), (1, 4)])
def test_lrn_window_sizes(size, rank):
    """Even sizes (a window with one channel more after than before: a pad of the channel
    axis) and a 1-d signal, against the spec's formula in NumPy and, for the odd
    sizes on images it takes, onnxruntime's LRN on the original node."""
    x = np.random.default_rng(size).standard_normal((2, 6, 5, 4, 3)[:rank]).astype(np.float32)
    proto = _lrn(size, x, alpha=0.01, beta=0.6, bias=1.5)
    imported = import_onnx(proto, "lrn.onnx")
    y = _run(imported.model.to_onnx(weights=imported.weights),
             {imported.model.inputs[0].name: x})[0]
    np.testing.assert_allclose(y, _lrn_formula(x, size, 0.01, 0.6, 1.5), rtol=1e-5, atol=1e-6)
    if size % 2 and rank == 4:
        np.testing.assert_allclose(y, _run(proto, {"x": x})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,rank,why", [
    (4, 3, "an LRN of even size 4 on a rank-3 input"),
    (3, 5, "an LRN of a rank-5 input would average over a window of 4 axes")])
def test_lrn_refusals_name_the_node(size, rank, why):
    x = np.zeros((2, 6, 5, 4, 3)[:rank], np.float32)
    with pytest.raises(ImportFailure, match=rf"node 'lrn' \(LRN\): {why}"):
        import_onnx(_lrn(size, x), "lrn.onnx")
