"""The op table: every op in ALL_OPS has a row here (or in the module EXTRA_ROWS names). Each
row is checked against an independent oracle: a torch.nn reference module (output shape,
parameter count, and values with dslc's weights loaded into it), or, for ops torch.nn lacks, a
NumPy formula written below. Every dslc backend (the torch module, the torch-src module and
onnxruntime on the ONNX graph) must match the oracle's values on N(0, 1) inputs and on U(-8, 8) inputs (beyond the
clamp points of relu6, hardtanh, softplus). Adding an op = write its class, list it in ALL_OPS,
add a row below (and a formula if torch.nn has no module for it)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import dslc
from dslc.ops import ALL_OPS
from dslc.ops.base import Op
from dslc.backends.onnx import table as onnx_table
from dslc.backends.torch import table as torch_table
from dslc.backends.torch_src import table as torch_src_table
from specfiles import valid_specs
from support import random_weights, run_ort, run_torch, run_torch_src


def _nn():
    import torch.nn as nn
    return nn


def _wn(module):
    """torch's own weight norm (the parametrization), dim 0."""
    return _nn().utils.parametrizations.weight_norm(module, dim=0)


# (spec snippet, input shape, reference module factory, dims for parity)
ROWS = [
    ("dense(5)", (2, 7), lambda nn: nn.Linear(7, 5)),
    ("dense(5, bias=false)", (2, 3, 7), lambda nn: nn.Linear(7, 5, bias=False)),
    ("dense(5, weight_norm=true)", (2, 7), lambda nn: _wn(nn.Linear(7, 5))),
    ("dense(5, bias=false, weight_norm=true)", (2, 3, 7), lambda nn: _wn(nn.Linear(7, 5, bias=False))),
    ("relu", (2, 6), lambda nn: nn.ReLU()),
    ("relu6", (2, 6), lambda nn: nn.ReLU6()),
    ("leaky_relu(0.2)", (2, 6), lambda nn: nn.LeakyReLU(0.2)),
    ("prelu(3)", (2, 3, 4), lambda nn: nn.PReLU(3)),
    ("prelu", (2, 6), lambda nn: nn.PReLU()),
    ("elu(0.5)", (2, 6), lambda nn: nn.ELU(0.5)),
    ("selu", (2, 6), lambda nn: nn.SELU()),
    ("gelu", (2, 6), lambda nn: nn.GELU()),
    ("gelu(approximate=tanh)", (2, 6), lambda nn: nn.GELU(approximate="tanh")),
    ("sigmoid", (2, 6), lambda nn: nn.Sigmoid()),
    ("tanh", (2, 6), lambda nn: nn.Tanh()),
    ("hardtanh(-2, 2)", (2, 6), lambda nn: nn.Hardtanh(-2, 2)),
    ("softplus(beta=2, threshold=1)", (2, 6), lambda nn: nn.Softplus(2, 1)),
    ("step", (2, 6), None),
    ("maxout(3)", (2, 5, 12), None),
    ("softmax(axis=1)", (2, 6, 3), lambda nn: nn.Softmax(dim=1)),
    ("log_softmax", (2, 6), lambda nn: nn.LogSoftmax(dim=-1)),
    ("quick_gelu", (2, 6), None),
    ("groupnorm(2)", (2, 4, 3, 5), lambda nn: nn.GroupNorm(2, 4)),
    ("groupnorm(3, eps=0.001, affine=false)", (2, 6, 7), lambda nn: nn.GroupNorm(3, 6, 0.001, affine=False)),
    ("groupnorm(1)", (3, 2, 2, 2, 3), lambda nn: nn.GroupNorm(1, 2)),
    ("instancenorm", (2, 3, 5, 4), lambda nn: nn.InstanceNorm2d(3)),
    ("instancenorm(affine=true, eps=0.01)", (2, 3, 7), lambda nn: nn.InstanceNorm1d(3, 0.01, affine=True)),
    ("instancenorm(affine=true)", (1, 2, 3, 4, 2), lambda nn: nn.InstanceNorm3d(2, affine=True)),
    ("layernorm(axis=1)", (2, 4, 3, 5), None),
    ("layernorm(axis=-2, bias=false)", (2, 3, 4, 2), None),
    ("layernorm(axis=1, elementwise_affine=false)", (2, 4, 3), None),
    ("layernorm(axis=-1)", (2, 3, 6), lambda nn: nn.LayerNorm(6)),
    ("drop_path(0.3)", (2, 6), lambda nn: nn.Identity()),
    ("conv1d(4, 4, stride=2, dilation=2)", (2, 1, 100), lambda nn: nn.Conv1d(1, 4, 4, stride=2, dilation=2)),
    ("conv1d(4, 3, dilation=2, weight_norm=true)", (2, 3, 11), lambda nn: _wn(nn.Conv1d(3, 4, 3, dilation=2))),
    ("conv2d(4, 3, padding=1, groups=2, weight_norm=true)", (1, 2, 5, 6),
     lambda nn: _wn(nn.Conv2d(2, 4, 3, padding=1, groups=2))),
    ("conv2d(8, 3, padding=1, groups=2)", (2, 4, 9, 9), lambda nn: nn.Conv2d(4, 8, 3, padding=1, groups=2)),
    ("conv2d(6, 4, padding=same)", (1, 3, 10, 10), lambda nn: nn.Conv2d(3, 6, 4, padding="same")),
    ("conv2d(4, 3, stride=2, padding=same)", (1, 3, 9, 9),
     lambda nn: nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(3, 4, 3, stride=2))),
    ("conv2d(4, 3, padding=1, padding_mode=reflect)", (1, 2, 6, 6),
     lambda nn: nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect")),
    ("conv3d(2, 3, bias=false)", (1, 2, 5, 6, 7), lambda nn: nn.Conv3d(2, 2, 3, bias=False)),
    ("maxpool1d(3, stride=2, ceil_mode=true)", (1, 1, 6), lambda nn: nn.MaxPool1d(3, 2, ceil_mode=True)),
    ("maxpool2d(2)", (1, 3, 8, 8), lambda nn: nn.MaxPool2d(2)),
    ("maxpool(3, stride=2, padding=1)", (1, 3, 9, 9), lambda nn: nn.MaxPool2d(3, 2, 1)),
    ("maxpool3d(2)", (1, 1, 4, 4, 4), lambda nn: nn.MaxPool3d(2)),
    ("avgpool1d(2)", (1, 2, 9), lambda nn: nn.AvgPool1d(2)),
    ("avgpool2d(3, stride=2, padding=1)", (1, 2, 7, 7), lambda nn: nn.AvgPool2d(3, 2, 1)),
    ("avgpool2d(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)", (1, 2, 8, 8),
     lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ("avgpool3d(2)", (1, 1, 4, 4, 4), lambda nn: nn.AvgPool3d(2)),
    ("adaptive_avgpool2d(3)", (1, 2, 7, 7), lambda nn: nn.AdaptiveAvgPool2d(3)),
    ("adaptive_maxpool2d(3)", (1, 2, 16, 16), lambda nn: nn.AdaptiveMaxPool2d(3)),
    ("adaptive_avgpool1d(4)", (1, 2, 10), lambda nn: nn.AdaptiveAvgPool1d(4)),
    ("adaptive_maxpool1d(2)", (1, 2, 8), lambda nn: nn.AdaptiveMaxPool1d(2)),
    ("adaptive_avgpool3d(2)", (1, 1, 4, 6, 5), lambda nn: nn.AdaptiveAvgPool3d(2)),
    ("adaptive_maxpool3d(2)", (1, 1, 4, 4, 4), lambda nn: nn.AdaptiveMaxPool3d(2)),
    ("avgpool(2)", (1, 2, 6, 6), lambda nn: nn.AvgPool2d(2)),
    ("adaptive_avgpool(5)", (1, 2, 7, 9), lambda nn: nn.AdaptiveAvgPool2d(5)),
    ("adaptive_maxpool((2, 3))", (1, 2, 7, 9), lambda nn: nn.AdaptiveMaxPool2d((2, 3))),
    ("global_avgpool", (1, 2, 5, 5), lambda nn: nn.AdaptiveAvgPool2d(1)),
    ("global_maxpool", (1, 2, 5, 5), lambda nn: nn.AdaptiveMaxPool2d(1)),
    ("conv_transpose1d(3, 3, stride=2)", (1, 2, 7), lambda nn: nn.ConvTranspose1d(2, 3, 3, 2)),
    ("conv_transpose1d(3, 3, stride=2, weight_norm=true)", (1, 2, 7),
     lambda nn: _wn(nn.ConvTranspose1d(2, 3, 3, 2))),
    ("conv_transpose2d(32, 4, stride=2, padding=1)", (1, 64, 16, 16),
     lambda nn: nn.ConvTranspose2d(64, 32, 4, 2, 1)),
    ("conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2)",
     (1, 4, 5, 6), lambda nn: nn.ConvTranspose2d(4, 4, 3, 2, 1, 1, groups=2, dilation=2)),
    ("conv_transpose3d(2, 2, stride=2, bias=false)", (1, 2, 3, 3, 3),
     lambda nn: nn.ConvTranspose3d(2, 2, 2, 2, bias=False)),
    # `same` with stride 2 is TensorFlow's SAME: out = ceil(in / s), total pad =
    # (out - 1) * s + k - in, begin = total // 2, the extra one at the end. H: 9 -> 5, total 3
    # (1, 2); W: 10 -> 5, total 2 (1, 1). ZeroPad2d takes (left, right, top, bottom).
    ("conv2d(4, 4, stride=2, padding=same)", (1, 3, 9, 10),
     lambda nn: nn.Sequential(nn.ZeroPad2d((1, 1, 1, 2)), nn.Conv2d(3, 4, 4, stride=2))),
    ("upsample(2)", (1, 2, 5, 6), lambda nn: nn.Upsample(scale_factor=2)),
    ("upsample(size=(7, 9), mode=bilinear)", (2, 2, 5, 6), lambda nn: nn.Upsample((7, 9), mode="bilinear")),
    ("upsample(2, mode=bilinear, align_corners=true)", (1, 2, 5, 6),
     lambda nn: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),
    ("upsample(3, mode=linear)", (1, 2, 5), lambda nn: nn.Upsample(scale_factor=3, mode="linear")),
    ("pad(1)", (1, 2, 4, 4), lambda nn: nn.ZeroPad2d(1)),
    ("pad(((1, 2), (0, 3)), mode=reflect)", (1, 2, 5, 5), lambda nn: nn.ReflectionPad2d((0, 3, 1, 2))),
    ("pad(2, mode=replicate)", (1, 2, 5), lambda nn: nn.ReplicationPad1d(2)),
    ("pad((1, 1), mode=circular)", (1, 2, 5, 5), lambda nn: nn.CircularPad2d(1)),
    ("pad(1, value=0.5)", (1, 2, 3, 3, 3), lambda nn: nn.ConstantPad3d(1, 0.5)),
    ("channel_shuffle(3)", (2, 6, 4, 5), lambda nn: nn.ChannelShuffle(3)),
    ("silu", (2, 6), lambda nn: nn.SiLU()),
    ("rmsnorm", (2, 3, 6), lambda nn: nn.RMSNorm(6, eps=1e-6)),
    ("positional(8)", (2, 5, 6), None),
    ("positional(8, encoding=sinusoidal)", (2, 5, 6), None),
    ("positional(8, offset=2)", (2, 5, 6), None),
    ("positional(8, encoding=whisper, offset=1)", (2, 5, 6), None),
    ("roll((1, -2), axis=(1, 2))", (2, 3, 5), None),
    ("roll(-4)", (2, 3, 5), None),
    ("window_partition(2)", (2, 4, 6, 3), None),
    ("window_merge(2, 4, 6)", (12, 4, 3), None),
    ("class_token", (2, 5, 6), None),
    ("select(2)", (2, 5, 6), None),
    ("flatten", (2, 3, 4, 5), lambda nn: nn.Flatten()),
    ("flatten(start_dim=2)", (2, 3, 4, 5), lambda nn: nn.Flatten(2)),
    ("reshape(2, 4, 15)", (2, 3, 4, 5), lambda nn: nn.Sequential(nn.Flatten(), nn.Unflatten(1, (4, 15)))),
    ("reshape(-1, 5)", (2, 3, 4, 5), lambda nn: nn.Sequential(nn.Flatten(0), nn.Unflatten(0, (24, 5)))),
    ("permute(0, 2, 1)", (2, 3, 4), None),
    ("transpose(1, -1)", (2, 3, 4, 5), None),
    ("batchnorm", (2, 3, 4, 4), lambda nn: nn.BatchNorm2d(3)),
    ("batchnorm1d", (2, 5), lambda nn: nn.BatchNorm1d(5)),
    ("batchnorm2d(eps=0.001)", (2, 3, 4, 4), lambda nn: nn.BatchNorm2d(3, eps=0.001)),
    ("batchnorm3d", (2, 3, 2, 2, 2), lambda nn: nn.BatchNorm3d(3)),
    ("layernorm", (2, 3, 6), lambda nn: nn.LayerNorm(6)),
    ("dropout(0.3)", (2, 6), lambda nn: nn.Dropout(0.3)),
    ("expand(4, 2, 3)", (1, 3), None),
    ("unsqueeze(1)", (2, 3), None),
    ("squeeze(1)", (2, 1, 3), None),
    ("repeat_interleave(2, axis=1)", (2, 3), None),
    ("tile(2, 1, 3)", (2, 3), None),
]


def _model(snippet, shape):
    dims = ", ".join(str(d) for d in shape)
    return dslc.load(f"model M {{\n input x: f32[{dims}]\n output y = x -> {snippet}\n}}").models["M"]


# Oracles for the rows without a torch.nn module: (x, the layer's weights by local name) ->
# the expected output, in NumPy, from each op's definition (torch's semantics), not from dslc.
def _sinusoidal(x, w):
    """Vaswani et al.: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same)."""
    t, d = x.shape[1], x.shape[2]
    pe = np.zeros((t, d))
    for pos in range(t):
        for i in range(0, d, 2):
            angle = pos / 10000 ** (i / d)
            pe[pos, i] = np.sin(angle)
            if i + 1 < d:
                pe[pos, i + 1] = np.cos(angle)
    return x + pe


def _whisper(x, w, offset=1):
    """Whisper's sinusoids(): sin on the first d/2 features, cos on the rest, at timescales
    10000^(i / (d/2 - 1)), rows offset .. offset+T-1."""
    t, d = x.shape[1], x.shape[2]
    pe = np.zeros((t, d))
    for pos in range(t):
        for i in range(d // 2):
            angle = (pos + offset) / 10000 ** (i / (d // 2 - 1))
            pe[pos, i], pe[pos, d // 2 + i] = np.sin(angle), np.cos(angle)
    return x + pe


def _windows(x, ws):
    """Swin's window_partition as HF writes it, windows flattened: [N, H, W, C] ->
    [N*H/ws*W/ws, ws*ws, C]."""
    n, h, w, c = x.shape
    return x.reshape(n, h // ws, ws, w // ws, ws, c).swapaxes(2, 3).reshape(-1, ws * ws, c)


def _unwindows(x, ws, h, w):
    """Swin's window_reverse: the windows [B, ws*ws, C] back to [N, h, w, C]."""
    c = x.shape[-1]
    return x.reshape(-1, h // ws, w // ws, ws, ws, c).swapaxes(2, 3).reshape(-1, h, w, c)


def _axis_norm(axis):
    """LayerNorm over one axis (HF ConvNeXt's channels_first LayerNorm), weight and bias laid
    along it, in float64."""
    def f(x, w):
        x = x.astype(np.float64)
        a = axis % x.ndim
        y = (x - x.mean(a, keepdims=True)) / np.sqrt(x.var(a, keepdims=True) + 1e-5)
        along = (-1,) + (1,) * (x.ndim - 1 - a)
        y = y * w["weight"].reshape(along) if "weight" in w else y
        return y + w["bias"].reshape(along) if "bias" in w else y
    return f


FORMULAS = {
    "quick_gelu": lambda x, w: x / (1 + np.exp(-1.702 * x.astype(np.float64))),
    "layernorm(axis=1)": _axis_norm(1),
    "layernorm(axis=-2, bias=false)": _axis_norm(-2),
    "layernorm(axis=1, elementwise_affine=false)": _axis_norm(1),
    "step": lambda x, w: (x >= 0).astype(x.dtype),
    "maxout(3)": lambda x, w: x.reshape(x.shape[:-1] + (x.shape[-1] // 3, 3)).max(axis=-1),
    "positional(8)": lambda x, w: x + w["weight"][: x.shape[1]],
    "positional(8, encoding=sinusoidal)": _sinusoidal,
    "positional(8, offset=2)": lambda x, w: x + w["weight"][2: 2 + x.shape[1]],
    "positional(8, encoding=whisper, offset=1)": _whisper,
    "roll((1, -2), axis=(1, 2))": lambda x, w: np.roll(x, (1, -2), axis=(1, 2)),
    "roll(-4)": lambda x, w: np.roll(x, -4),
    "window_partition(2)": lambda x, w: _windows(x, 2),
    "window_merge(2, 4, 6)": lambda x, w: _unwindows(x, 2, 4, 6),
    "class_token": lambda x, w: np.concatenate(
        [np.broadcast_to(w["weight"], (x.shape[0], 1, x.shape[2])), x], axis=1),
    "select(2)": lambda x, w: x[:, 2],
    "permute(0, 2, 1)": lambda x, w: np.transpose(x, (0, 2, 1)),
    "transpose(1, -1)": lambda x, w: np.swapaxes(x, 1, -1),
    "expand(4, 2, 3)": lambda x, w: np.broadcast_to(x, (4, 2, 3)),
    "unsqueeze(1)": lambda x, w: np.expand_dims(x, 1),
    "squeeze(1)": lambda x, w: np.squeeze(x, 1),
    "repeat_interleave(2, axis=1)": lambda x, w: np.repeat(x, 2, axis=1),
    "tile(2, 1, 3)": lambda x, w: np.tile(x, (2, 1, 3)),
}


def _inputs(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "wide":          # past relu6's 6, hardtanh's bounds, softplus's threshold
        return rng.uniform(-8.0, 8.0, shape).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)     # "zeros": exact +0 and -0 entries
    flat = x.reshape(-1)
    flat[0::3] = 0.0
    flat[1::6] = -0.0
    return x


def _reference_output(ref, snippet, model, weights, x):
    """The oracle's output: the torch.nn module with dslc's weights (`<node>.weight` -> `weight`,
    `<node>.weight` -> `1.weight` inside an nn.Sequential, a longer name as it is), or the
    row's formula."""
    import torch
    (node,) = [n.name for n in model.nodes]
    local = {k[len(node) + 1:]: v for k, v in weights.items()}
    assert all(k.startswith(node + ".") for k in weights), weights.keys()
    if ref is None:
        return np.asarray(FORMULAS[snippet](x.astype(np.float64), local), dtype=np.float64)
    module = ref(_nn()).eval()
    state = module.state_dict()
    by_name = {}
    for key in state:
        name = key if key in local else key.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":
            continue
        assert name in local, f"{snippet}: dslc has no `{name}` for the reference's {key}"
        assert tuple(state[key].shape) == local[name].shape, (key, state[key].shape)
        by_name[key] = torch.from_numpy(local.pop(name))
    assert not local, f"{snippet}: dslc weights the reference lacks: {sorted(local)}"
    module.load_state_dict({**state, **by_name}, strict=True)
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy().astype(np.float64)


VALUE_CASES = [pytest.param(snippet, shape, ref, kind, id=f"{snippet}-{kind}")
               for snippet, shape, ref in ROWS
               for kind in ("normal", "wide") + (("zeros",) if snippet == "step" else ())]


@pytest.mark.parametrize("snippet, shape, ref", ROWS, ids=[r[0] for r in ROWS])
def test_op_against_torch_reference(snippet, shape, ref):
    """Output shape and parameter count against the torch.nn module; rows without one have a
    formula (their values are checked below)."""
    import torch
    model = _model(snippet, shape)
    if ref is None:
        assert snippet in FORMULAS, f"{snippet}: no torch.nn reference and no formula"
        return
    module = ref(_nn()).eval()
    with torch.no_grad():
        want = module(torch.randn(*shape)).shape
    assert tuple(d.value for d in model.outputs[0].type.shape) == tuple(want)
    assert model.params == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("snippet, shape, ref, kind", VALUE_CASES)
def test_op_values_against_oracle(snippet, shape, ref, kind):
    """Every backend (torch, torch-src, ONNX), with the same (perturbed: random running stats for
    the batchnorms, eval mode) weights, against the oracle's values, f32 tolerances."""
    model = _model(snippet, shape)
    assert len(model.inputs) == 1 and len(model.outputs) == 1
    weights = random_weights(model)
    x = _inputs(kind, shape, seed=len(snippet))
    want = _reference_output(ref, snippet, model, dict(weights), x)
    ir_shape = tuple(d.value for d in model.outputs[0].type.shape)
    assert want.shape == ir_shape, f"the oracle gives {want.shape}, the IR {ir_shape}"
    (t_out,) = run_torch(model, weights, [x])
    (s_out,) = run_torch_src(model, weights, [x])
    (o_out,), _ = run_ort(model, weights, [x])
    for backend, got in (("torch", t_out), ("torch-src", s_out), ("onnxruntime", o_out)):
        assert got.dtype == np.float32, f"{backend}: {got.dtype}"
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{snippet} on {kind} inputs: {backend} vs the oracle")


def _kinds_in_table():
    return {re.match(r"\w+", r[0]).group(0) for r in ROWS}


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.kind)
def test_every_op_is_complete(op):
    assert op.kind in _kinds_in_table() or op.kind in EXTRA_ROWS, f"{op.kind} has no op-table row"
    if op.kind in EXTRA_ROWS:      # the row lives elsewhere: that file exists and uses the op
        where = Path(__file__).resolve().parent.parent / EXTRA_ROWS[op.kind]
        where = where if where.suffix else Path(__file__).with_name(EXTRA_ROWS[op.kind] + ".py")
        assert re.search(rf"\b{op.kind}\b", where.read_text()), f"{where.name} never uses {op.kind}"
    assert op.shape is not Op.shape, f"{op.kind} lacks `shape`"
    for backend, table in (("torch", torch_table), ("torch-src", torch_src_table),
                           ("onnx", onnx_table)):
        assert table.entry(op) is not None, f"{op.kind} has no entry in the {backend} table"
    # The class's own docstring (variant() copies its family's explicitly): inspect.getdoc would
    # inherit a helper base's or pydantic's BaseModel's.
    own = op.__dict__.get("__doc__")
    assert own and own.strip(), f"{op.kind} has no docstring of its own stating its shape rule"


# Ops whose rows live in their family's own test module (multi-input or needing arguments),
# with value oracles there.
EXTRA_ROWS = {"concat": "test_language", "split": "test_language", "embedding": "test_recurrent",
              "rnn": "test_recurrent", "gru": "test_recurrent", "lstm": "test_recurrent",
              "scan": "test_scan", "attention": "test_transformer",
              "sdpa": "specs/ops/hand_attention.dl", "stack": "test_shaping",
              **{k: "test_arith" for k in ("add", "sub", "mul", "div", "pow", "neg", "eq", "ne",
                                           "lt", "le", "gt", "ge", "logical_and", "logical_or",
                                           "logical_not", "where")},
              **{k: "test_sources" for k in ("param", "randn_like", "rand_like", "bernoulli")},
              **{k: "test_positions" for k in ("arange", "positions", "relative_bias",
                                               "window_bias")},
              "matmul": "test_linalg", "einsum": "test_linalg", "phase_shuffle": "test_gan",
              **{k: "test_elementwise" for k in (
                  "exp", "log", "log1p", "sqrt", "rsqrt", "abs", "square", "clamp", "sin", "cos",
                  "erf", "sign", "floor", "round", "reciprocal", "softsign", "logsigmoid", "mish",
                  "hardswish", "hardsigmoid", "cast")},
              **{k: "test_indexing" for k in ("gather", "index_select", "slice", "topk",
                                              "one_hot", "cumsum")},
              **{k: "test_reduce" for k in ("sum", "mean", "max", "min", "prod", "var", "std",
                                            "logsumexp", "argmax", "argmin", "norm")}}


def test_every_op_appears_in_a_spec():
    text = "\n".join(p.read_text() for p in valid_specs())
    missing = [op.kind for op in ALL_OPS if not re.search(rf"\b{op.kind}\b", text)]
    assert not missing, f"ops used by no spec under specs/: {missing}"


def test_registry_has_unique_kinds():
    kinds = [op.kind for op in ALL_OPS]
    assert len(kinds) == len(set(kinds))


def test_the_index_names_every_family_op_where_it_lives():
    from dslc.ops import INDEX, family_ops
    found = {op.kind: family for family in set(INDEX.values()) for op in family_ops(family)}
    assert found == INDEX


def test_check_imports_only_the_families_it_uses():
    import subprocess
    import sys
    code = ("import sys, dslc; dslc.load('specs/seeds/mlp.dl'); "
            "print(sorted(m.split('.')[-1] for m in sys.modules if m.startswith('dslc.ops.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "['activation', 'base', 'linear']"
