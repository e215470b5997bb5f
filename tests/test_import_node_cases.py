"""dslc import on onnx's own node test cases (onnx.backend.test.case.node: each op's graph,
inputs and the outputs onnx's NumPy formula of the spec gives): the first input is the
graph's input, the others (a Gemm's B and C, a OneHot's depth and values, a Slice's bounds)
constants, as an exported model holds them. Every case is imported and its outputs match
onnx's, or is refused in one line naming the node, its op and the reason. Covers LRN,
HardSigmoid and Selu with any constants, Gemm with transA, alpha, beta and every bias shape,
OneHot on any axis with any values, Slice of several axes, Dropout (a training-mode one
refused: it drops at inference)."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from dslc.onnx_import import ImportFailure, import_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402


def _collect(module: str, cls: str) -> dict:
    """{case name: (node, inputs, outputs)} from onnx's exports of `cls`, at today's opset
    (cases written for old opsets, which pass opset_imports, are left out)."""
    m = importlib.import_module(f"onnx.backend.test.case.node.{module}")
    got, real = {}, m.expect

    def expect(node, inputs, outputs, name, **kw):
        if "opset_imports" not in kw:
            got[name] = (node, inputs, outputs)
    m.expect = expect
    try:
        for k in dir(getattr(m, cls)):
            if k.startswith("export"):
                getattr(getattr(m, cls), k)()
    finally:
        m.expect = real
    return got


# op: (module, class, {case: the refusal's reason, for the cases dslc refuses})
OPS = {"LRN": ("lrn", "LRN", {}),
       "HardSigmoid": ("hardsigmoid", "HardSigmoid", {}),
       "Selu": ("selu", "Selu", {}),
       "Gemm": ("gemm", "Gemm", {}),
       "OneHot": ("onehot", "OneHot", {}),
       "Slice": ("slice", "Slice", {"test_slice_neg_steps": r"step -\d \(a reversal\)",
                                    "test_slice_start_out_of_bounds":
                                    r"it takes nothing of axis 1 \(\[1000:1000\] of 10\)"}),
       "Dropout": ("dropout", "Dropout", {
           **{f"test_training_dropout{k}": "its training_mode is true" for k in
              ("", "_default", "_zero_ratio")},
           **{f"test_training_dropout{k}": "its mask output is read" for k in
              ("_mask", "_default_mask", "_zero_ratio_mask")},
           **{f"test_dropout_default_mask{k}": "its mask output is read" for k in
              ("", "_ratio")}})}
# onnxruntime has no bf16 Mul (the scaling of values other than [0, 1]): the spec is checked
NOT_RUN = {"test_onehot_with_bfloat16_values": "one_hot(4, dtype=bf16)"}
CASES = [(op, name, *case) for op, (mod, cls, _) in OPS.items()
         for name, case in _collect(mod, cls).items()]


def _model(node, inputs, outputs):
    first = node.input[0]
    inits = [numpy_helper.from_array(np.asarray(v), n)
             for n, v in zip(node.input[1:], inputs[1:]) if n]
    g = helper.make_graph(
        [node], "case", [helper.make_tensor_value_info(first, helper.np_dtype_to_tensor_dtype(
            inputs[0].dtype), inputs[0].shape)],
        [helper.make_tensor_value_info(o, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for o, v in zip(node.output, outputs)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("op,name,node,inputs,outputs", CASES, ids=[c[1] for c in CASES])
def test_onnx_node_case(op, name, node, inputs, outputs):
    model = _model(node, inputs, outputs)
    refused = OPS[op][2].get(name)
    if refused is not None:
        with pytest.raises(ImportFailure, match=rf"cannot import node '.*' \({op}\): {refused}"):
            import_onnx(model, f"{name}.onnx")
        return
    imported = import_onnx(model, f"{name}.onnx")
    if name in NOT_RUN:         # imported; its graph is more than onnxruntime runs
        assert NOT_RUN[name] in imported.text, imported.text
        return
    again = imported.model.to_onnx(weights=imported.weights)
    s = ort.InferenceSession(again.SerializeToString(), providers=["CPUExecutionProvider"])
    got = s.run(None, {imported.model.inputs[0].name: inputs[0]})
    assert len(got) == len(outputs)
    for g, w in zip(got, outputs):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_every_op_has_cases():
    assert {c[0] for c in CASES} == set(OPS)
    assert sum(c[0] == "Gemm" for c in CASES) >= 10
