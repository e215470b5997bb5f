"""Convolutions and poolings beyond the op table: torch vs onnxruntime at two values of the
symbolic sizes, the sizes the shape rules derive, the errors they raise, and the corners where
ONNX's own rules differ from torch's (ceil_mode's dropped last window, `same` at run time)."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from support import parity, random_weights, run_ort, run_torch, run_torch_src


def _model(body: str, inp: str = "f32[N, 3, H, W] where H >= 8, W >= 8"):
    return dslc.load(f"model M {{\n    input x: {inp}\n    output y = x -> {body}\n}}").models["M"]


HW = ({"N": 2, "H": 16, "W": 16}, {"N": 1, "H": 13, "W": 11})
L = ({"N": 2, "L": 16}, {"N": 1, "L": 13})
DHW = ({"N": 1, "D": 6, "H": 7, "W": 8}, {"N": 2, "D": 5, "H": 9, "W": 4})
SEQ, VOL = "f32[N, 2, L] where L >= 8", "f32[N, 2, D, H, W] where D >= 4, H >= 4, W >= 4"

PARITY = [
    ("conv2d(4, 3)", None, HW),
    ("conv2d(4, 3, stride=2, padding=1)", None, HW),
    ("conv2d(4, 4, stride=2, padding=same)", None, HW),          # even kernel: SAME_UPPER
    ("conv2d(4, 4, padding=same, dilation=2)", None, HW),
    ("conv2d(4, 3, padding=full)", None, HW),
    ("conv2d(4, (3, 2), padding=((1, 2), (0, 1)))", None, HW),
    ("conv2d(4, 3, padding=((1, 2), (0, 1)), padding_mode=reflect)", None, HW),
    ("conv2d(4, 3, padding=2, padding_mode=replicate)", None, HW),
    ("conv2d(4, 3, padding=same, padding_mode=circular)", None, HW),
    ("conv2d(6, 3, groups=3, bias=false)", None, HW),
    ("maxpool(3, stride=2, padding=1)", None, HW),
    ("maxpool2d(3, stride=2, dilation=2, ceil_mode=true)", None, HW),
    ("avgpool2d(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)", None, HW),
    ("adaptive_maxpool2d(3)", None, HW),
    ("adaptive_avgpool((2, 5))", None, HW),
    ("global_avgpool", None, HW),
    ("global_maxpool", None, HW),
    ("conv1d(4, 4, stride=2, dilation=2)", SEQ, L),
    ("conv1d(4, 5, stride=2, padding=same)", SEQ, L),
    ("maxpool(3, stride=2, ceil_mode=true)", SEQ, L),
    ("adaptive_avgpool(3)", SEQ, L),
    ("conv3d(2, 3, stride=2, padding=same)", VOL, DHW),
    ("avgpool(2, ceil_mode=true)", VOL, DHW),
    ("adaptive_maxpool(3)", VOL, DHW),
]


@pytest.mark.parametrize("body, inp, envs", PARITY, ids=[r[0] for r in PARITY])
def test_parity_at_two_sizes(body, inp, envs):
    model = _model(body, *(inp,) if inp else ())
    for env in envs:
        parity(model, env)


@pytest.mark.parametrize("body, shape", [
    ("conv2d(4, 3, stride=2, padding=1)", "f32[N, 4, (H + 1) // 2, (W + 1) // 2]"),
    ("conv2d(4, 4, stride=2, padding=same)", "f32[N, 4, (H + 1) // 2, (W + 1) // 2]"),
    ("conv2d(4, 3)", "f32[N, 4, H - 2, W - 2]"),
    ("conv2d(4, 3, padding=full)", "f32[N, 4, H + 2, W + 2]"),
    ("maxpool(2)", "f32[N, 3, H // 2, W // 2]"),
    ("adaptive_maxpool2d(3)", "f32[N, 3, 3, 3]"),
    ("global_avgpool", "f32[N, 3, 1, 1]"),
])
def test_symbolic_sizes_flow(body, shape):
    assert str(_model(body).outputs[0].type) == shape


def test_adaptive_pool_takes_any_input_size():
    """004, topology (b): any input size, a 3x3 map out; windows as torch cuts them."""
    model = _model("conv2d(4, 3, padding=1) -> adaptive_maxpool2d(3)", "f32[N, 3, H, W]")
    for side in (16, 13):
        parity(model, {"N": 2, "H": side, "W": side})
    proto = _model("adaptive_maxpool2d(3)", "f32[N, 3, 15, 15]").to_onnx()
    assert [n.op_type for n in proto.graph.node] == ["MaxPool", "Identity"]   # 15 = 3 x 5


def _errors(body: str, inp: str):
    text = f"model M {{\n    input x: {inp}\n    output y = x -> {body}\n}}"
    return [(d.code, d.message) for d in dslc.check_text(text).diagnostics]


@pytest.mark.parametrize("body, inp, code, words", [
    ("conv1d(2, 4)", "f32[N, 1, 2]", "E303", "kernel 4 does not fit input length 2"),
    ("conv1d(2, 4, padding=1)", "f32[N, 1, 1]", "E303", "padded to 3"),
    ("maxpool(9)", "f32[N, 3, 8, 8]", "E303", "kernel 9 does not fit input height 8"),
    ("conv2d(4, 3, groups=2)", "f32[N, 3, 8, 8]", "E305", "does not divide the input channels"),
    ("conv2d(3, 3, groups=2)", "f32[N, 4, 8, 8]", "E305", "does not divide the out_channels"),
    ("conv2d(3, 3)", "f32[N, C, 8, 8]", "E304", "input channels"),
    ("conv2d(3, 3)", "f32[N, 3, 8]", "E301", "rank-4"),
    ("conv2d(3, 3)", "i64[N, 3, 8, 8]", "E306", "floating-point"),
    ("maxpool(3, padding=2)", "f32[N, 3, 8, 8]", "E205", "more than half the kernel"),
    ("conv2d(3, 3, padding=bogus)", "f32[N, 3, 8, 8]", "E205", "unknown padding"),
    ("adaptive_avgpool(0)", "f32[N, 3, 8, 8]", "E205", "output sizes"),
])
def test_shape_errors(body, inp, code, words):
    errors = _errors(body, inp)
    assert any(c == code and words in m for c, m in errors), errors


# ONNX keeps a ceil_mode window that starts in the right padding, torch drops it (pytorch
# #131272, onnxruntime #15446); onnxruntime refuses auto_pad with dilation.
ONNX_CORNERS = [
    ("maxpool1d(1, stride=2, ceil_mode=true)", "f32[N, 2, 4]", {"N": 2}),
    ("avgpool1d(2, stride=2, padding=1, ceil_mode=true)", "f32[N, 2, 5]", {"N": 2}),
    ("avgpool2d((3, 2), stride=2, padding=1, ceil_mode=true)", "f32[N, 2, 6, 5]", {"N": 2}),
    ("maxpool2d((3, 2), stride=2, padding=1, ceil_mode=true)", "f32[N, 2, H, 5] where H >= 4",
     {"N": 2, "H": 6}),
    ("conv2d(4, 3, stride=2, padding=same, dilation=2)", "f32[N, 3, H, W] where H >= 8, W >= 8",
     HW[1]),
    ("conv2d(4, 3, stride=2, padding=same, padding_mode=reflect)", "f32[N, 3, H, 10] where H >= 8",
     {"N": 1, "H": 13}),
]


@pytest.mark.parametrize("body, inp, env", ONNX_CORNERS, ids=[r[0] for r in ONNX_CORNERS])
def test_onnx_corners_match_torch(body, inp, env):
    parity(_model(body, inp), env)


@pytest.mark.parametrize("output_padding, ok", [(1, True), (2, False), (3, False)])
def test_transposed_output_padding_must_be_below_the_stride(output_padding, ok):
    """torch's rule: output_padding < max(stride, dilation); equal is already too large."""
    diags = dslc.check_text("model M { input x: f32[N, 2, 5, 5]\n output y = x -> "
                            f"conv_transpose2d(4, 3, stride=2, output_padding={output_padding}) }}").errors
    assert not diags if ok else [d.code for d in diags] == ["E205"] and "output_padding" in diags[0].message


@pytest.mark.parametrize("options", [
    "padding=((0, 1), (2, 1))",
    "stride=2, padding=((1, 0), (0, 2)), output_padding=1, groups=2, dilation=2",
])
def test_conv_transpose_with_unequal_padding_in_torch(options):
    """torch's layer pads both ends alike; dslc crops the unpadded result's begin and end rows
    as ONNX's pads say. Oracle: torch's functional transposed convolution without padding,
    cropped by the spec's numbers here; onnxruntime and the torch source agree."""
    import torch
    import torch.nn.functional as F
    spec = f"model M {{ input x: f32[N, 4, 5, 6]\n output y = x -> conv_transpose2d(4, 3, {options}) }}"
    model = dslc.check_text(spec).models["M"]
    weights = random_weights(model)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 6)).astype(np.float32)
    kw = dict(stride=2, output_padding=1, groups=2, dilation=2) if "stride" in options else {}
    full = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(weights["conv_transpose2d_1.weight"]),
                              torch.from_numpy(weights["conv_transpose2d_1.bias"]), **kw).numpy()
    (hb, he), (wb, we) = ((1, 0), (0, 2)) if "stride" in options else ((0, 1), (2, 1))
    want = full[:, :, hb:full.shape[2] - he, wb:full.shape[3] - we]
    (t_out,) = run_torch(model, weights, [x])
    (o_out,), _ = run_ort(model, weights, [x])
    (s_out,) = run_torch_src(model, weights, [x])
    np.testing.assert_allclose(s_out, want, rtol=1e-5, atol=1e-5)
    assert t_out.shape == want.shape == tuple(d.value if d.is_const() else 2 for d in model.outputs[0].type.shape)
    np.testing.assert_allclose(t_out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o_out, want, rtol=1e-5, atol=1e-5)
