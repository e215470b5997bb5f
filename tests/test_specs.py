"""Every valid spec under specs/: reference count == IR params == torch numel == ONNX initializer
elements; torch and onnxruntime agree at two values of each symbolic dim; onnxruntime's output
shapes and strict ONNX shape inference agree with the IR."""
from __future__ import annotations

import re

import numpy as np
import pytest

import dslc
from specfiles import envs, references, valid_specs
from support import parity, random_weights

# Model names come from the text, so a spec that fails to load fails its own cases.
CASES = [(path, name) for path in valid_specs()
         for name in re.findall(r"^\s*model\s+(\w+)", path.read_text(), re.M)]


def _id(case):
    path, name = case
    return f"{path.parent.name}/{path.stem}:{name}"


def _model(path, name):
    return dslc.load(path).models[name]


def test_corpus_is_not_empty():
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_reference_count(case):
    path, name = case
    model = _model(path, name)
    refs = references(path)
    assert name in refs, f"{path.name} has no `# params {name}: N` reference comment"
    module = model.to_torch()
    torch_numel = sum(p.numel() for p in module.parameters())
    proto = model.to_onnx()
    params = set(model.param_shapes())
    onnx_elements = sum(int(np.prod(t.dims)) for t in proto.graph.initializer if t.name in params)
    assert {t.name for t in proto.graph.initializer} >= params
    assert model.params == torch_numel == onnx_elements == refs[name]


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_torch_and_onnxruntime_agree(case):
    path, name = case
    model = _model(path, name)
    for env in envs(model, path):
        parity(model, env)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_strict_onnx_shape_inference_agrees_with_ir(case):
    import onnx
    path, name = case
    model = _model(path, name)
    proto = onnx.shape_inference.infer_shapes(model.to_onnx(weights=random_weights(model)),
                                              strict_mode=True)
    for port, vi in zip(model.outputs, proto.graph.output):
        dims = vi.type.tensor_type.shape.dim
        assert len(dims) == port.type.rank
        for ir, d in zip(port.type.shape, dims):
            if ir.is_const():
                assert d.dim_value == ir.value, f"{port.name}: {ir} vs {d}"
            else:
                assert d.dim_param == str(ir)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_state_dict_keys_are_onnx_initializer_names(case):
    path, name = case
    model = _model(path, name)
    keys = {k for k in model.to_torch().state_dict() if not k.endswith("num_batches_tracked")}
    inits = {t.name for t in model.to_onnx().graph.initializer}
    assert keys == set(model.param_shapes()) | set(model.buffer_shapes())
    assert keys <= inits
