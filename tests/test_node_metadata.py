"""Each ONNX node dslc writes records the IR node it computes part of and its role there
(metadata_props dslc.layer / dslc.role), and `dslc import` recognises dslc's multi-node
subgraphs by those fields, not by parsing node names."""
from __future__ import annotations

import pytest

import dslc
from dslc.onnx_import import ImportFailure, import_onnx
from dslc.onnx_import.graph import dslc_part

onnx = pytest.importorskip("onnx")

SPEC = """model M {
    input x: f64[N, 6]
    h = x -> log1p -> logsigmoid -> rsqrt
    output y = h -> reshape(N, 2, 3) -> maxout(3) -> conv1d(2, 1, padding=same)
}
"""


@pytest.fixture(scope="module")
def model():
    return dslc.check_text(SPEC).models["M"]


def test_every_node_names_its_layer_and_role(model):
    graph = model.to_onnx().graph
    layers = {n.name for n in model.walk()}
    outside = [n for n in graph.node if dslc_part(n) is None]    # the graph's own: outputs
    assert [(n.op_type, n.output[0]) for n in outside] == [("Identity", "y")]
    nodes = [n for n in graph.node if dslc_part(n) is not None]
    parts = [dslc_part(n) for n in nodes]
    assert {layer for layer, _ in parts} == layers
    for node, (layer, role) in zip(nodes, parts):      # the name says the same, for people
        assert node.name.startswith(layer)
        assert role == "" or node.name.startswith(f"{layer}.{role}")
    roles = {(layer.split("_")[0], role) for layer, role in parts}
    assert {("log1p", "w"), ("logsigmoid", "abs"), ("logsigmoid", "log1p.w"),
            ("rsqrt", "sqrt"), ("maxout", "pieces")} <= roles


def test_import_reads_the_roles_not_the_names(model):
    proto = model.to_onnx()
    kinds = [n.kind for n in import_onnx(proto, "m.onnx").model.nodes]
    assert kinds == [n.kind for n in model.nodes]
    for node in proto.graph.node:        # the same names, no roles: dslc's subgraphs unknown
        del node.metadata_props[:]
    with pytest.raises(ImportFailure):
        import_onnx(proto, "m.onnx")


def test_the_normalisations_import_by_their_roles_and_compute_the_same():
    """groupnorm, instancenorm, layernorm(axis=) and quick_gelu have no single ONNX operator;
    their subgraphs import back as those ops, with the weights, and the re-compiled graph gives
    the original's numbers on onnxruntime (random weights, so the affines matter)."""
    import numpy as np
    import onnxruntime as ort
    from support import random_weights
    original = dslc.load("specs/ops/norms.dl").models["Norms"]
    weights = random_weights(original)
    imported = import_onnx(original.to_onnx(weights=weights), "norms.onnx")
    assert [n.op.describe() for n in imported.model.nodes] == [
        "conv2d(8, 3, padding=1)", "groupnorm(4)", "quick_gelu", "instancenorm(affine=true)",
        "layernorm(axis=1)", "dropout(0.5)", "global_avgpool", "flatten", "dense(2)"]
    x = np.random.default_rng(0).standard_normal((2, 8, 5, 4)).astype(np.float32)
    run = lambda proto: ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(run(imported.model.to_onnx(weights=imported.weights)),
                               run(original.to_onnx(weights=weights)), rtol=1e-5, atol=1e-6)
