"""Language features end to end: blocks, shape patterns, repeat, conditionals, parameters,
naming, several inputs/outputs/models, multi-output destructuring, init and frozen."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from support import parity

RESIDUAL = """
# blocks with defaults, shape patterns, conditionals, repeat and names
block Residual(x: [N, F], hidden: int, scale: int = 1) {
    h = x -> dense(hidden * scale) -> relu -> dense(F)
    out = if scale > 1 { h -> relu } else { h }
    return out + x
}

model Net(width: int = 8) {
    input x: f32[B, 6]
    input mask: f32[B, 6]
    y = x -> Residual(width) * 3 -> Residual(width, scale=2, name=last)
    output out = y * mask
    output logits = out -> dense(3) -> log_softmax(axis=1)
}
"""


def test_blocks_repeat_and_names():
    m = dslc.load(RESIDUAL).models["Net"]
    names = [n.name for n in m.nodes if n.params()]
    assert names[:2] == ["Residual_1.dense_1", "Residual_1.dense_2"]
    assert "Residual_3.dense_2" in names and "last.dense_1" in names
    assert m.param_shapes()["last.dense_1.weight"] == (16, 6)
    assert [p.name for p in m.inputs] == ["x", "mask"]
    assert [p.name for p in m.outputs] == ["out", "logits"]
    # 3 x (6*8+8 + 8*6+6) + (6*16+16 + 16*6+6) + (6*3+3), counted by hand
    assert m.params == 3 * (56 + 54) + (112 + 102) + 21


def test_blocks_parity_and_output_order():
    m = dslc.load(RESIDUAL).models["Net"]
    parity(m, {"B": 2})
    parity(m, {"B": 5})
    proto = m.to_onnx()
    assert [i.name for i in proto.graph.input] == ["x", "mask"]
    assert [o.name for o in proto.graph.output] == ["out", "logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "B"


def test_repeat_with_name_numbers_each_copy():
    m = dslc.load("""
    model M { input x: f32[N, 4]
              output y = x -> dense(4, name=fc) * 3 }""").models["M"]
    assert [n.name for n in m.nodes] == ["fc.0", "fc.1", "fc.2"]


def test_shape_pattern_binds_and_checks():
    src = """
    block Head(x: [N, 4], k: int) { return x -> dense(k) }
    model M { input a: f32[N, 5]
              output y = a -> Head(2) }"""
    p = dslc.check_text(src)
    assert [d.code for d in p.errors] == ["E302"]
    assert "expects size 4" in p.errors[0].message


def test_pattern_rank_mismatch():
    src = """
    block B(x: [N, C, H, W]) { return x }
    model M { input a: f32[N, 5]
              output y = a -> B }"""
    assert [d.code for d in dslc.check_text(src).errors] == ["E301"]


def test_model_parameters_and_arithmetic():
    m = dslc.load("""
    model M(d: int = 12, heads: int = 3) {
        input x: f32[N, d]
        output y = x -> dense(d // heads * 2 + 1)
    }""").models["M"]
    assert m.outputs[0].type.shape[1].value == 9


def test_several_models_per_file_and_multi_input_calls():
    p = dslc.load("""
    model A { input x: f32[N, 2]
              output y = x -> dense(1) }
    model B { input x: f32[N, 2]
              input z: f32[N, 3]
              output y = concat(x, z, axis=1) -> dense(2)
              output w = (x, x) -> add }""")
    assert set(p.models) == {"A", "B"}
    assert p.models["B"].outputs[0].type.shape[1].value == 2
    parity(p.models["B"], {"N": 3})


def test_destructuring_needs_matching_count():
    p = dslc.check_text("""
    model M { input x: f32[N, 2]
              a, b = x -> dense(1)
              output y = a }""")
    assert [d.code for d in p.errors] == ["E208"]


def test_frozen_layers_are_not_trainable():
    m = dslc.load("""
    model M { input x: f32[N, 4]
              output y = x -> dense(3, frozen=true) -> dense(2) }""").models["M"]
    assert m.params == 15 + 8 and m.trainable_params == 8
    module = m.to_torch()
    assert sum(p.numel() for p in module.parameters() if p.requires_grad) == 8


def test_init_values_reach_both_backends():
    m = dslc.load("""
    model M { input x: f32[N, 2]
              output y = x -> dense(1, init={weight: [[2, -1]], bias: constant(0.5)}) }""").models["M"]
    w = m.weights()
    assert w["dense_1.weight"].tolist() == [[2.0, -1.0]] and w["dense_1.bias"].tolist() == [0.5]


def test_init_with_wrong_shape_is_located():
    p = dslc.check_text("""
    model M { input x: f32[N, 2]
              output y = x -> dense(1, init={weight: [[2, -1, 3]]}) }""")
    assert [d.code for d in p.errors] == ["E205"]
    assert "[1, 3]" in p.errors[0].message and p.errors[0].span.line == 3


def test_weights_are_deterministic_per_seed():
    m = dslc.load("specs/seeds/mlp.dl").models["DeepMLP"]
    a, b, c = m.weights(0), m.weights(0), m.weights(1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["dense_1.weight"], c["dense_1.weight"])


def test_default_init_follows_torch_bounds():
    m = dslc.load("specs/seeds/mlp.dl").models["DeepMLP"]
    w = m.weights()["dense_1.weight"]
    bound = 1 / np.sqrt(1000)
    assert w.shape == (300, 1000) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


@pytest.mark.parametrize("src, code", [
    ("model M { input x: f32[N, 2]\n output y = x -> dense(1) * 0 }", "E205"),
    ("model M { input x: f32[N, 2]\n output y = x -> dense }", "E204"),
    ("model M { input x: f32[N, 2]\n output y = x -> dense(1, 2, 3) }", "E207"),
    ("model M { input x: q32[N, 2]\n output y = x }", "E205"),
    ("model M { input x: f32[N, 2] }", "E210"),
    ("block dense(x: [N]) { return x }\nmodel M { input x: f32[N, 2]\n output y = x }", "E206"),
    ("model M(k: int) { input x: f32[N, 2]\n output y = x }", "E204"),
    ("model M { input x: f32[N, 2]\n output y = x -> add }", "E208"),
    ("model M { input x: f32[N, 2]\n output y = x -> relu(x) }", "E209"),
    ("model M { input x: f32[N, 2]\n output y = x + \"a\" }", "E205"),
    ("model M { input x: i64[N, 2]\n output y = x -> relu }", "E306"),
])
def test_errors_have_codes(src, code):
    assert code in [d.code for d in dslc.check_text(src).errors]


def test_ops_with_several_outputs_destructure():
    m = dslc.load("""
    model Gated {
        input x: f32[N, 8]
        value, gate = x -> dense(8) -> split(2)
        output y = value * (gate -> sigmoid)
    }""").models["Gated"]
    assert str(m.outputs[0].type) == "f32[N, 4]"
    parity(m, {"N": 2})
    parity(m, {"N": 5})


def test_split_needs_a_multiple():
    p = dslc.check_text("model M { input x: f32[N, 5]\n a, b = split(x, 2)\n output y = a }")
    assert [d.code for d in p.errors] == ["E305"]


def test_power_and_its_limits():
    m = dslc.load("model M(depth: int = 3) { input x: f32[N, 2]\n output y = x -> dense(2 ** depth * 2) }")
    assert str(m.models["M"].outputs[0].type) == "f32[N, 16]"
    p = dslc.check_text("model M { input x: f32[N, 2]\n output y = x -> dense(2 ** 2 ** 30) }")
    assert [d.code for d in p.errors] == ["E307"] and "too large" in p.errors[0].message


def test_every_code_used_is_registered():
    """Diagnostic codes are stable and documented in one registry."""
    import re
    from pathlib import Path
    from dslc.diagnostics import CODES
    src = "\n".join(p.read_text() for p in Path(dslc.__file__).parent.rglob("*.py"))
    used = set(re.findall(r'"(E\d{3})"', src))
    assert used <= set(CODES), used - set(CODES)


def test_unused_layers_are_warned_about_not_rejected():
    p = dslc.check_text("model M { input x: f32[N, 4]\n h = x -> dense(3)\n output y = x -> relu }")
    assert not p.errors and [d.code for d in p.diagnostics] == ["W201"]
    assert p.diagnostics[0].severity == "warning" and "15 parameters" in p.diagnostics[0].message
    assert p.models["M"].params == 15


@pytest.mark.parametrize("call, ok", [
    ("concat(x, x, 1)", True), ("concat(1, x, x)", True),      # torch's einsum("ij", a, b) order
    ("concat(x, 1, x)", False), ("concat(1, x, 1)", False)])
def test_tensor_arguments_come_before_or_after_the_hyperparameters(call, ok):
    diags = dslc.check_text(f"model M {{ input x: f32[N, 2]\n output y = {call} }}").errors
    if ok:
        assert not diags, diags[0].short()
    else:
        assert [d.code for d in diags] == ["E205"] and "not between" in diags[0].message


def test_a_duplicate_name_points_at_the_first_definition():
    text = ("model M {\n    input x: f32[N, 4]\n    h = x -> dense(8, name=fc)\n"
            "    output y = h -> dense(2, name=fc)\n}\n")
    (d,) = dslc.check_text(text, "m.dl").errors
    assert d.code == "E206" and d.span.line == 4
    assert [(s.line, s.col, note) for s, note in d.notes] == [(3, 14, "`fc` is defined here")]
