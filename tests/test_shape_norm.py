"""Layout (flatten, reshape, permute, transpose), normalisation (batchnorm*, layernorm) and
dropout: symbolic shapes, torch-vs-onnxruntime parity at two sizes of every symbol, counts
against torch's own modules, and the error codes of bad hyperparameters."""
from __future__ import annotations

import pytest

import dslc
from support import parity, random_weights


def _spec(shape: str, chain: str, where: str = "") -> str:
    return f"model M {{\n input x: f32[{shape}]{where}\n output y = x -> {chain}\n}}"


def _model(shape, chain, where=""):
    return dslc.load(_spec(shape, chain, where)).models["M"]


def _codes(shape, chain, where=""):
    return [d.code for d in dslc.check_text(_spec(shape, chain, where)).diagnostics]


# (input shape, chain, `where` clause, expected output type)
PARITY = [
    ("N, C, H, W", "flatten", "", "f32[N, C*H*W]"),
    ("N, 3, H, W", "flatten(1, 2)", "", "f32[N, 3*H, W]"),
    ("N, 3, H, W", "flatten(0, 1)", "", "f32[3*N, H, W]"),
    ("N, 3, H, W", "flatten(start_dim=0)", "", "f32[3*H*N*W]"),
    ("N, 48", "reshape(N, 3, 4, 4)", "", "f32[N, 3, 4, 4]"),
    ("N, 3, H, W", "reshape(N, -1)", "", "f32[N, 3*H*W]"),
    ("N, 3, H, W", "reshape(N, 3, -1)", "", "f32[N, 3, H*W]"),
    ("N, T, 8", "reshape(N, -1, 4)", "", "f32[N, 2*T, 4]"),
    ("N, 3, H, W", "reshape(-1, H, W)", "", "f32[3*N, H, W]"),
    ("N, T, 8", "reshape(T, N, 2, 4)", "", "f32[T, N, 2, 4]"),      # dims gathered at run time
    ("N, 3, H", "reshape(N, 2, -1)", " where H % 2 == 0", "f32[N, 2, 3*H/2]"),
    ("N, 3, H", "reshape(N, H, -1, 1)", "", "f32[N, H, 3, 1]"),
    ("N, 3, H, W", "permute(0, 2, 3, 1)", "", "f32[N, H, W, 3]"),
    ("N, T, F", "permute(0, -1, 1)", "", "f32[N, F, T]"),
    ("N, T, F", "transpose(1, 2)", "", "f32[N, F, T]"),
    ("N, 3", "batchnorm", "", "f32[N, 3]"),
    ("N, 3, L", "batchnorm1d", "", "f32[N, 3, L]"),
    ("N, 3, H, W", "batchnorm(eps=0.01, affine=false)", "", "f32[N, 3, H, W]"),
    ("N, 3, H, W", "batchnorm2d(momentum=0.3)", "", "f32[N, 3, H, W]"),
    ("N, 2, D, H, W", "batchnorm3d", "", "f32[N, 2, D, H, W]"),
    ("N, 3, H, W", "batchnorm(track_running_stats=false)", "", "f32[N, 3, H, W]"),
    ("N, 3", "batchnorm(affine=false, track_running_stats=false, eps=0.001)", "", "f32[N, 3]"),
    ("N, T, 6", "layernorm", "", "f32[N, T, 6]"),
    ("N, T, 4, 6", "layernorm((4, 6))", "", "f32[N, T, 4, 6]"),
    ("N, T, 6", "layernorm(6, elementwise_affine=false, eps=0.001)", "", "f32[N, T, 6]"),
    ("N, T, 6", "layernorm(bias=false)", "", "f32[N, T, 6]"),
    ("N, T, 6", "dropout(0.2)", "", "f32[N, T, 6]"),
    ("N, 3, H, W", "dropout", "", "f32[N, 3, H, W]"),
    ("N, 3, 2, 3", "batchnorm -> flatten -> dropout(0.1) -> reshape(N, 3, -1) -> layernorm",
     "", "f32[N, 3, 6]"),
]


@pytest.mark.parametrize("shape, chain, where, out", PARITY, ids=[r[1] for r in PARITY])
def test_parity_at_two_sizes(shape, chain, where, out):
    model = _model(shape, chain, where)
    assert str(model.outputs[0].type) == out
    syms = model.symbols()
    for base in (2, 4):    # even sizes, so that `where H % 2 == 0` holds
        parity(model, {s: base + 2 * i for i, s in enumerate(syms)})


def test_flatten_to_the_end_is_an_onnx_flatten():
    kinds = lambda chain: [n.op_type for n in _model("N, C, H, W", chain).to_onnx().graph.node]
    assert "Flatten" in kinds("flatten")
    assert "Flatten" not in kinds("flatten(0)") and "Reshape" in kinds("flatten(0)")


def test_reshape_shape_tensor_copies_symbolic_dims_in_place():
    """N stays where it is (0: copy), known sizes are numbers, the product is the -1."""
    from onnx import numpy_helper
    proto = _model("N, 3, H, W", "reshape(N, 3, -1)").to_onnx()
    (reshape,) = [n for n in proto.graph.node if n.op_type == "Reshape"]
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    assert inits[reshape.input[1]].tolist() == [0, 3, -1]


def test_reshape_with_two_computed_sizes_is_numpy_reshape():
    """2*N becomes the -1 and 2*H is computed from x's shape at run time: both backends give
    NumPy's reshape of the input."""
    import numpy as np
    from support import make_inputs, run_ort, run_torch
    model = _model("N, H, W, 4", "reshape(2*N, 2*H, W)")
    assert str(model.outputs[0].type) == "f32[2*N, 2*H, W]"
    for seed, env in enumerate(({"N": 2, "H": 3, "W": 5}, {"N": 3, "H": 1, "W": 2})):
        (x,) = make_inputs(model, env, seed)
        want = x.reshape(2 * env["N"], 2 * env["H"], env["W"])
        (t,), ((o,), _) = run_torch(model, {}, [x]), run_ort(model, {}, [x])
        np.testing.assert_array_equal(t, want)
        np.testing.assert_array_equal(o, want)


# (snippet, input shape, torch reference, its parameter count, its buffer count)
def _refs(nn):
    return [
        ("batchnorm", (2, 5), nn.BatchNorm1d(5)),
        ("batchnorm", (2, 5, 7), nn.BatchNorm1d(5)),
        ("batchnorm", (2, 4, 3, 3), nn.BatchNorm2d(4)),
        ("batchnorm3d", (2, 3, 2, 2, 2), nn.BatchNorm3d(3)),
        ("batchnorm(affine=false)", (2, 4, 3, 3), nn.BatchNorm2d(4, affine=False)),
        ("batchnorm(track_running_stats=false)", (2, 4, 3, 3),
         nn.BatchNorm2d(4, track_running_stats=False)),
        ("layernorm", (2, 3, 6), nn.LayerNorm(6)),
        ("layernorm((3, 6), bias=false)", (2, 3, 6), nn.LayerNorm((3, 6), bias=False)),
        ("layernorm(elementwise_affine=false)", (2, 3, 6), nn.LayerNorm(6, elementwise_affine=False)),
        ("dropout(0.3)", (2, 6), nn.Dropout(0.3)),
    ]


def test_counts_match_torch_modules():
    from torch import nn
    for snippet, shape, ref in _refs(nn):
        model = _model(", ".join(map(str, shape)), snippet)
        bufs = {k: v for k, v in ref.named_buffers() if not k.endswith("num_batches_tracked")}
        assert model.params == sum(p.numel() for p in ref.parameters()), snippet
        assert model.buffers == sum(b.numel() for b in bufs.values()), snippet
        (node,) = model.nodes      # local names and shapes, as the torch module has them
        assert node.op.params(*node.in_types) == {k: tuple(p.shape) for k, p in ref.named_parameters()}
        assert node.op.buffers(*node.in_types) == {k: tuple(b.shape) for k, b in bufs.items()}


def test_torch_state_dict_round_trips_through_both_backends():
    """A torch state_dict carries num_batches_tracked, which neither backend may require or
    trip over; its running statistics must reach the ONNX graph."""
    import numpy as np
    model = _model("N, 3, H, W", "batchnorm(name=bn)")
    module = model.to_torch(weights=random_weights(model))
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    assert "bn.num_batches_tracked" in state and "bn.num_batches_tracked" not in model.buffer_shapes()
    again = model.to_torch(weights=state)
    assert np.allclose(again.bn.running_var.numpy(), state["bn.running_var"])
    inits = {i.name for i in model.to_onnx(weights=state).graph.initializer}
    assert {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"} <= inits
    assert "bn.num_batches_tracked" not in inits


ERRORS = [
    ("N, 3", "batchnorm2d", "", "E301"),
    ("N, 3, H, W", "batchnorm1d", "", "E301"),
    ("N, 3, H", "batchnorm3d", "", "E301"),
    ("N", "batchnorm", "", "E301"),
    ("N, C, H, W", "batchnorm", "", "E304"),          # weights need a known channel count
    ("N, 3, 4", "reshape(N, 5, 3)", "", "E302"),
    ("N, 3, H", "reshape(N, 3, 7)", "", "E302"),
    ("N, 3, H", "reshape(N, 2, -1)", "", "E302"),      # only when H is even
    ("N, 3, 4", "reshape(-1, 5)", "", "E302"),
    ("N, 3, H", "reshape(N, -1, -1)", "", "E205"),
    ("N, 3, 4", "reshape(N, 0, 12)", "", "E205"),
    ("N, 3, H", "reshape(N, H + 1, -1)", "", "E304"),   # -1 under a sum: not inferable
    ("N, 3, 4", "permute(0, 2, 2)", "", "E205"),
    ("N, 3, 4", "permute(0, 1)", "", "E205"),
    ("N, 3, 4", "permute(0, 1, 3)", "", "E205"),
    ("N, 3, 4", "transpose(1, 3)", "", "E205"),
    ("N, 3, 4", "flatten(2, 1)", "", "E205"),
    ("N, 3, 5", "layernorm(4)", "", "E302"),
    ("N, 3, 5", "layernorm((2, 5))", "", "E302"),
    ("N, 5", "layernorm((3, 1, 5))", "", "E302"),
    ("N, 3, T", "layernorm", "", "E304"),
    ("N, 3", "dropout(1.0)", "", "E205"),
    ("N, 3", "dropout(-0.1)", "", "E205"),
    ("N, 6, H", "groupnorm(4)", "", "E305"),
    ("N, 6, H", "groupnorm(0)", "", "E305"),
    ("N, C, H", "groupnorm(2)", "", "E304"),
    ("N, 6, H", "instancenorm", "", ""),
    ("N, 6", "instancenorm", "", "E301"),
    ("N, 6, H", "layernorm(6, axis=1)", "", "E205"),
    ("N, 6, H", "layernorm(axis=3)", "", "E205"),
    ("N, 6, H", "layernorm(axis=2)", "", "E304"),
    ("N, 3", "drop_path(1.0)", "", "E205"),
    ("N, 3", "quick_gelu", "", ""),
]


@pytest.mark.parametrize("shape, chain, where, code", ERRORS, ids=[f"{r[0]}->{r[1]}" for r in ERRORS])
def test_error_codes(shape, chain, where, code):
    assert _codes(shape, chain, where) == ([code] if code else [])


def test_reshape_count_error_names_both_shapes_and_the_fix():
    (d,) = dslc.check_text(_spec("N, 3, H", "reshape(N, 2, -1)")).diagnostics
    assert "[N, 3, H]" in d.message and "[N, 2, -1]" in d.message
    assert "H % 2 == 0" in d.help


def test_drop_path_drops_whole_examples_in_training_only():
    """Stochastic depth: in training each example is zero or x / (1 - p), about p of them
    zero; in eval mode (and so in ONNX) the identity."""
    import torch
    model = dslc.check_text(_spec("N, 4, 3", "drop_path(0.25)")).models["M"]
    module = model.to_torch()
    x = torch.randn(4000, 4, 3)
    torch.manual_seed(0)
    y = module.train()(x)
    dropped = (y == 0).flatten(1).all(1)
    kept = ~dropped
    assert torch.allclose(y[kept], x[kept] / 0.75)
    assert abs(dropped.float().mean().item() - 0.25) < 0.03
    assert torch.equal(module.eval()(x), x)
