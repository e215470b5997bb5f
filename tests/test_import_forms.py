"""ONNX forms dslc import reads beyond dslc's own lowerings (issue 22, item 4), each checked
against onnxruntime's run of the original graph: the imported spec, compiled with the imported
weights, computes the same numbers."""
from __future__ import annotations

import numpy as np
import pytest

from dslc.onnx_import import import_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _run(proto, feeds) -> dict:
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


def _graph(nodes, inits, ins, outs, opset=17):
    g = helper.make_graph(nodes, "G", ins, outs,
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _same(proto, feeds, kinds=None):
    imported = import_onnx(proto, "g.onnx")
    if kinds is not None:
        assert [n.kind for n in imported.model.nodes] == kinds, imported.text
    want = _run(proto, feeds)
    got = _run(imported.model.to_onnx(weights=imported.weights), feeds)
    assert len(want) == len(got)
    for w, g in zip(want.values(), got.values()):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return imported


def test_plain_softplus():
    """ONNX's Softplus (torch.onnx.export of nn.Softplus()): softplus, over a range that
    reaches torch's threshold of 20."""
    proto = _graph([helper.make_node("Softplus", ["x"], ["y"], name="sp")], {},
                   [_f32("x", ["N", 4])], [_f32("y", ["N", 4])])
    x = np.linspace(-30, 30, 24, dtype=np.float32).reshape(6, 4)
    _same(proto, {"x": x}, ["softplus"])
