"""Every valid spec under specs/: reference count == IR params == torch numel == ONNX initializer
elements; torch and onnxruntime agree at two values of each symbolic dim; onnxruntime's output
shapes and strict ONNX shape inference agree with the IR.

One module-scoped fixture per (spec, model) builds the weights, the torch module and the ONNX
graph once; pytest runs all the checks of one model before building the next (VGG-16 alone is
half a gigabyte of weights)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest

import dslc
from specfiles import envs, int_ranges, ir_only, references, valid_specs
from support import concrete, make_inputs, random_weights

# Model names come from the text, so a spec that fails to load fails its own cases.
CASES = [(path, name) for path in valid_specs() if not ir_only(path)
         for name in re.findall(r"^\s*model\s+(\w+)", path.read_text(), re.M)]
IR_ONLY = [p for p in valid_specs() if ir_only(p)]


def _id(case):
    path, name = case
    return f"{path.parent.name}/{path.stem}:{name}"


@dataclass
class Built:
    path: object
    model: object
    weights: dict
    module: object
    proto: object


@pytest.fixture(scope="module", params=CASES, ids=[_id(c) for c in CASES])
def built(request):
    path, name = request.param
    model = dslc.load(path).models[name]
    weights = random_weights(model)
    module = model.to_torch(weights=weights).eval()
    return Built(path, model, weights, module, model.to_onnx(weights=weights))


def test_corpus_is_not_empty():
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", IR_ONLY, ids=lambda p: p.stem)
def test_ir_only_specs_count_without_allocating(path):
    import tracemalloc
    tracemalloc.start()
    try:
        program = dslc.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    refs = references(path)
    for model in program.models.values():
        assert model.params == refs[model.name]
    assert peak < 64 * 2 ** 20, f"checking allocated {peak / 2 ** 20:.0f} MiB"


def test_reference_count(built):
    model, refs = built.model, references(built.path)
    assert model.name in refs, f"{built.path.name} has no `# params {model.name}: N` comment"
    torch_numel = sum(p.numel() for p in built.module.parameters())
    params = set(model.param_shapes())
    onnx_elements = sum(int(np.prod(t.dims)) for t in built.proto.graph.initializer if t.name in params)
    assert model.params == torch_numel == onnx_elements == refs[model.name]


def test_torch_and_onnxruntime_agree(built):
    import onnxruntime as ort
    import torch
    model = built.model
    sess = ort.InferenceSession(built.proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for seed, env in enumerate(envs(model, built.path)):
        xs = make_inputs(model, env, seed, highs=int_ranges(built.path))
        with torch.no_grad():
            t_out = built.module(*[torch.from_numpy(x) for x in xs])
        t_out = [o.numpy() for o in (t_out if isinstance(t_out, tuple) else (t_out,))]
        o_out = sess.run(None, {p.name: x for p, x in zip(model.inputs, xs)})
        for port, a, b in zip(model.outputs, t_out, o_out):
            want = concrete(port.type.shape, env)
            assert a.shape == want and b.shape == want, (port.name, a.shape, b.shape, want)
            diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
            assert diff <= 1e-4, f"{port.name} at {env}: torch vs onnxruntime differ by {diff}"


def test_strict_onnx_shape_inference_agrees_with_ir(built):
    import onnx
    proto = onnx.shape_inference.infer_shapes(built.proto, strict_mode=True)
    for port, vi in zip(built.model.outputs, proto.graph.output):
        dims = vi.type.tensor_type.shape.dim
        assert len(dims) == port.type.rank
        for ir, d in zip(port.type.shape, dims):
            if ir.is_const():
                assert d.dim_value == ir.value, f"{port.name}: {ir} vs {d}"
            else:
                assert d.dim_param == str(ir)


def test_state_dict_keys_are_onnx_initializer_names(built):
    model = built.model
    keys = {k for k in built.module.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == set(model.param_shapes()) | set(model.buffer_shapes())
    assert keys <= {t.name for t in built.proto.graph.initializer}
