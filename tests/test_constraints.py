"""Symbolic sizes with constraints: exact divisions under `where`, sizes proved positive over
the declared domain, and the condition reported when two sizes agree only sometimes."""
from __future__ import annotations

from pathlib import Path

import pytest

import dslc
from dslc.ir.dims import Requirement
from support import parity

STEM = """
model Stem {
    input image: f32[N, 3, H, W] where H % 32 == 0, W % 32 == 0, H >= 32, W >= 32
    x = image -> conv2d(64, 7, stride=2, padding=3, bias=false) -> batchnorm -> relu
              -> maxpool2d(3, stride=2, padding=1)
    output y = x -> conv2d(128, 3, stride=2, padding=1)
}
"""


def test_divisibility_keeps_shapes_exact_and_readable():
    m = dslc.load(STEM).models["Stem"]
    assert str(m.nodes[3].out_types[0]) == "f32[N, 64, H/4, W/4]"
    assert str(m.outputs[0].type) == "f32[N, 128, H/8, W/8]"
    assert m.constraints == {"H": {"mod": 32, "min": 32}, "W": {"mod": 32, "min": 32}}


def test_constrained_graph_stays_dynamic_and_runs_at_two_sizes():
    m = dslc.load(STEM).models["Stem"]
    dims = m.to_onnx().graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 128, "H/8", "W/8"]
    parity(m, {"N": 2, "H": 64, "W": 64})
    parity(m, {"N": 1, "H": 96, "W": 32})


def test_without_constraints_small_sizes_are_reported():
    p = dslc.check_text("model M { input x: f32[N, 1, L]\n output y = x -> conv1d(2, 5) }")
    assert [d.code for d in p.errors] == ["E303"]
    assert "valid only when L >= 5" in p.errors[0].message
    assert "where L >= 5" in p.errors[0].help
    assert p.errors[0].requires == (Requirement("L", "min", 5),)


def test_sizes_that_agree_only_sometimes_require_it_as_data():
    """The condition the message states is on the diagnostic as a value (dslc import reads it)."""
    p = dslc.check_text(Path(__file__).parent.parent.joinpath("specs/invalid/unet_odd_size.dl")
                        .read_text())
    assert [(d.code, d.requires) for d in p.errors] == [("E302", (Requirement("H", "mod", 2),))]
    assert "they agree only when H % 2 == 0" in p.errors[0].message
    two = dslc.check_text("model M { input x: f32[N, L]\n output y = x -> reshape(N, 2, L // 2) }")
    assert [d.requires for d in two.errors] == [(Requirement("L", "mod", 2),)]


def test_constraints_that_suffice_silence_the_report():
    assert not dslc.check_text("model M { input x: f32[N, 1, L] where L >= 5\n"
                               " output y = x -> conv1d(2, 5) }").errors


@pytest.mark.parametrize("where", ["H * 2 == 4", "H % 0 == 0", "H % 4 == 1", "N2 >= 3", "3 >= 4"])
def test_unsupported_constraints_are_located(where):
    p = dslc.check_text(f"model M {{ input x: f32[N, H] where {where}\n output y = x }}")
    assert [d.code for d in p.errors] == ["E205"] or [d.code for d in p.errors] == ["E201"]
    assert p.errors[0].span.line == 1


def test_contradictory_constraints():
    p = dslc.check_text("model M { input x: f32[N, H] where H % 32 == 0, H <= 20\n output y = x }")
    assert [d.code for d in p.errors] == ["E205"] and "satisfies" in p.errors[0].message


def test_reversed_comparisons():
    m = dslc.load("model M { input x: f32[N, H] where 8 <= H, H < 100\n output y = x }").models["M"]
    assert m.constraints == {"H": {"min": 8, "max": 99}}
