"""The op table: every op in ALL_OPS has a row here, checked against an independent torch.nn
reference module (output shape and parameter count), plus torch-vs-onnxruntime parity.
Adding an op = write its class, list it in ALL_OPS, add a row below."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import dslc
from dslc.ops import ALL_OPS
from dslc.ops.base import Op
from specfiles import valid_specs
from support import parity


def _nn():
    import torch.nn as nn
    return nn


# (spec snippet, input shape, reference module factory, dims for parity)
ROWS = [
    ("dense(5)", (2, 7), lambda nn: nn.Linear(7, 5)),
    ("dense(5, bias=false)", (2, 3, 7), lambda nn: nn.Linear(7, 5, bias=False)),
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
    ("conv1d(4, 4, stride=2, dilation=2)", (2, 1, 100), lambda nn: nn.Conv1d(1, 4, 4, stride=2, dilation=2)),
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
    ("conv_transpose2d(32, 4, stride=2, padding=1)", (1, 64, 16, 16),
     lambda nn: nn.ConvTranspose2d(64, 32, 4, 2, 1)),
    ("conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=2)",
     (1, 4, 5, 6), lambda nn: nn.ConvTranspose2d(4, 4, 3, 2, 1, 1, groups=2, dilation=2)),
    ("conv_transpose3d(2, 2, stride=2, bias=false)", (1, 2, 3, 3, 3),
     lambda nn: nn.ConvTranspose3d(2, 2, 2, 2, bias=False)),
    ("conv2d(4, 4, stride=2, padding=same)", (1, 3, 9, 10), None),
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


@pytest.mark.parametrize("snippet, shape, ref", ROWS, ids=[r[0] for r in ROWS])
def test_op_against_torch_reference(snippet, shape, ref):
    import torch
    model = _model(snippet, shape)
    if ref is not None:
        module = ref(_nn()).eval()
        with torch.no_grad():
            want = module(torch.randn(*shape)).shape
        assert tuple(d.value for d in model.outputs[0].type.shape) == tuple(want)
        assert model.params == sum(p.numel() for p in module.parameters())
    parity(model, {})


def _kinds_in_table():
    return {re.match(r"\w+", r[0]).group(0) for r in ROWS}


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.kind)
def test_every_op_is_complete(op):
    assert op.kind in _kinds_in_table() or op.kind in EXTRA_ROWS, f"{op.kind} has no op-table row"
    if op.kind in EXTRA_ROWS:      # the row lives elsewhere: that file exists and uses the op
        where = Path(__file__).resolve().parent.parent / EXTRA_ROWS[op.kind]
        where = where if where.suffix else Path(__file__).with_name(EXTRA_ROWS[op.kind] + ".py")
        assert re.search(rf"\b{op.kind}\b", where.read_text()), f"{where.name} never uses {op.kind}"
    for method in ("shape", "torch", "onnx"):
        assert getattr(op, method) is not getattr(Op, method), f"{op.kind} lacks `{method}`"
    assert inspect.getdoc(op), f"{op.kind} has no docstring stating its shape rule"


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
