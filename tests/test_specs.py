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
        t_out = [o.detach().numpy() for o in (t_out if isinstance(t_out, tuple) else (t_out,))]
        o_out = sess.run(None, {p.name: x for p, x in zip(model.inputs, xs)})
        for port, a, b in zip(model.outputs, t_out, o_out):
            want = concrete(port.type.shape, env)
            assert a.shape == want and b.shape == want, (port.name, a.shape, b.shape, want)
            diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
            assert diff <= 1e-4, f"{port.name} at {env}: torch vs onnxruntime differ by {diff}"


def _without_declared_shapes(proto):
    """The graph with its outputs' shapes removed (no value_info either), so that what shape
    inference reports for them comes from the inputs and the operators alone. Initializers keep
    their values when they are small or not floating point (shape tensors, scales: data
    propagation reads them); the big float weights become graph inputs of the same type and
    dims, which is all inference reads of them (VGG-16 infers in milliseconds, not seconds)."""
    import math

    from onnx import TensorProto, helper
    g = proto.graph
    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
    kept, typed = [], []
    for t in g.initializer:
        if t.data_type in floats and math.prod(t.dims) > 64:
            typed.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            kept.append(t)
    outputs = [helper.make_tensor_value_info(vi.name, vi.type.tensor_type.elem_type, None)
               for vi in g.output]
    graph = helper.make_graph(g.node, g.name, list(g.input) + typed, outputs, initializer=kept)
    return helper.make_model(graph, opset_imports=proto.opset_import, ir_version=proto.ir_version,
                             functions=proto.functions)


# Known sizes ONNX's shape inference cannot recover: its Slice rule gives up on every axis when
# starts/ends are computed at run time (here from a symbolic H, W, T or S, for adaptive pooling,
# `slice(1, T)` and `slice(2, S + 2)`), even on the axes it does not slice. (case, output) ->
# the axes it loses. The list is exact: a size lost elsewhere fails, and so does an entry that
# no longer applies.
ONNX_LOSES = {"ops/convolutions:Conv3d": {"y": {1}},
              "ops/convolutions:Pools": {"y": {1, 2}, "z": {1, 2}},
              "ops/indexing:Index": {"later": {2}, "earlier": {2}},
              "ops/runtime_sizes:SliceParam": {"y": {1}}}


def test_strict_onnx_shape_inference_agrees_with_ir(built):
    """ONNX's own strict shape inference (with its data propagation), from the inputs through
    every operator, must find the IR's output shapes: each known size exactly (but for
    ONNX_LOSES); a symbolic size as a dim_param or unknown, never as a number."""
    import onnx
    case = _id((built.path, built.model.name))
    bare = _without_declared_shapes(built.proto)
    assert all(not vi.type.tensor_type.HasField("shape") for vi in bare.graph.output)
    proto = onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)
    assert len(proto.graph.output) == len(built.model.outputs)
    lost = {}
    for port, vi in zip(built.model.outputs, proto.graph.output):
        assert vi.name == port.name
        tt = vi.type.tensor_type
        assert tt.HasField("shape"), f"{port.name}: shape inference found no shape (IR {port.type})"
        dims = tt.shape.dim
        assert len(dims) == port.type.rank, f"{port.name}: rank {len(dims)} vs IR {port.type}"
        for i, (ir, d) in enumerate(zip(port.type.shape, dims)):
            if ir.is_const() and not d.HasField("dim_value"):
                lost.setdefault(port.name, set()).add(i)
            elif ir.is_const():
                assert d.dim_value == ir.value, f"{port.name} axis {i}: inferred {d.dim_value}, IR {ir}"
            else:
                assert not d.HasField("dim_value"), \
                    f"{port.name} axis {i}: inferred the number {d.dim_value} for the IR's `{ir}`"
    assert lost == ONNX_LOSES.get(case, {}), \
        f"{case}: known sizes shape inference left unknown: {lost} (ONNX_LOSES lists " \
        f"{ONNX_LOSES.get(case, {})})"


def test_state_dict_keys_are_onnx_initializer_names(built):
    model = built.model
    keys = {k for k in built.module.state_dict() if not k.endswith("num_batches_tracked")}
    assert keys == set(model.param_shapes()) | set(model.buffer_shapes())
    assert keys <= {t.name for t in built.proto.graph.initializer}
