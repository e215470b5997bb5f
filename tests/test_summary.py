"""The summary: per-layer rows, blocks folded by depth, activation memory, compact notation,
--compare (a student against its teacher)."""
from __future__ import annotations

import re

import pytest

import dslc
from dslc.cli import main
from dslc.tools.summary import (activation_bytes, compact, compare, compare_line, grouped_rows,
                          layer_rows, table, total_macs)
from specfiles import ROOT, references
from support import cli


def _model(rel, name):
    return dslc.load(ROOT / rel).models[name]


def test_folding_blocks_keeps_the_totals():
    m = _model("specs/zoo/resnet.dl", "ResNet50")
    full, folded = layer_rows(m), grouped_rows(m, 0)
    assert len(folded) == 1 + 16 + 3 and len(full) == 175   # stem, 16 bottlenecks, head
    assert sum(r["params"] for r in folded) == sum(r["params"] for r in full) == 25_557_032
    stem = folded[0]
    assert stem["name"] == "Stem_1" and stem["op"] == "Stem (block)"
    assert str(stem["shape"]) == "f32[N, 64, H/4, W/4]"
    assert stem["params"] == 64 * 3 * 49 + 2 * 64      # conv 7x7 without bias + batchnorm


def test_activation_memory_counted_by_hand():
    m = _model("specs/seeds/mlp.dl", "DeepMLP")
    per_example = 2 * (300 + 100 + 50 + 20 + 5) + 1     # dense + tanh outputs, the last dense
    assert activation_bytes(m, 8, {}).value == 8 * per_example * 4


def test_activation_memory_stays_symbolic_without_sizes():
    m = _model("specs/zoo/unet.dl", "UNet")
    assert activation_bytes(m, 1, {}).symbols() == {"H", "W"}
    assert activation_bytes(m, 2, {"H": 32, "W": 32}).is_const()


def test_compact_notation_of_the_slides():
    lines = compact(_model("specs/seeds/conv2d_chain.dl", "ConvChain")).splitlines()
    assert lines[0] == "100x100x1 -[4x4, 5]-> 97x97x5"
    assert lines[-1] == "88x88x2 -[4x4, 1]-> 85x85x1"


def test_table_mentions_totals_and_macs():
    text = table(_model("specs/seeds/lenet.dl", "LeNet"), batch=4)
    assert "61,706 parameters" in text and "416,520 MACs per example" in text
    assert "activations:" in text and "at batch 4" in text


# ---- --compare: a student against its teacher ----
DISTILL = ROOT / "specs" / "training" / "distill.dl"


def _hand(kind):
    """`# params Teacher: 421,642` / `# macs Teacher: 4,241,152`: the counts worked out by hand."""
    text = DISTILL.read_text()
    return {m.group(1): int(m.group(2).replace(",", ""))
            for m in re.finditer(rf"^#\s*{kind}\s+(\w+)\s*:\s*([\d,]+)", text, re.M)}


def test_compare_uses_the_hand_counts():
    params, macs = references(DISTILL), _hand("macs")
    assert set(params) == set(macs) == {"Teacher", "Student"}
    program = dslc.load(DISTILL)
    teacher, student = program.models["Teacher"], program.models["Student"]
    assert total_macs(teacher).value == macs["Teacher"] and total_macs(student).value == macs["Student"]
    c = compare(teacher, student)
    assert c["params"] == (params["Teacher"], params["Student"])
    assert c["params_ratio"] == pytest.approx(params["Student"] / params["Teacher"])
    assert c["macs_ratio"] == pytest.approx(macs["Student"] / macs["Teacher"])
    want = (f"Student has 1/{params['Teacher'] / params['Student']:.1f} of Teacher's parameters "
            f"({100 * params['Student'] / params['Teacher']:.1f}%) and "
            f"{100 * macs['Student'] / macs['Teacher']:.1f}% of its MACs per example")
    assert compare_line(teacher, student) == want
    assert "1/15.8" in want and "(6.3%)" in want and "7.3%" in want      # the figures, by hand
    back = compare_line(student, teacher)
    assert back == (f"Teacher has {params['Teacher'] / params['Student']:.1f}x Student's parameters"
                    f" and {macs['Teacher'] / macs['Student']:.1f}x its MACs per example")


def test_summary_compare_on_the_command_line(capsys):
    assert main(["summary", str(DISTILL), "--compare", "Teacher", "Student"]) == 0
    out = capsys.readouterr().out
    assert out.count("MACs per example") == 3                # two tables and the comparison
    assert out.rstrip().splitlines()[-1].startswith("Student has 1/15.8 of Teacher's parameters (6.3%)")
    assert main(["summary", str(DISTILL), "--compare", "Teacher", "Student", "--compact"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("and 7.3% of its MACs per example")


@pytest.mark.parametrize("argv, fragment", [
    (["--compare", "Teacher", "Nope"], "no model `Nope`"),
    (["--compare", "Teacher", "Teacher"], "two different models"),
    (["--compare", "Teacher", "Student", "--model", "Teacher"], "leave out --model"),
])
def test_summary_compare_usage_errors(capsys, argv, fragment):
    assert main(["summary", str(DISTILL), *argv]) == 2
    assert fragment in capsys.readouterr().err


def test_compare_symbolic_macs_need_sizes():
    """ResNet-18 against ResNet-50: torchvision lists 1.81 and 4.09 GMACs at 224x224."""
    program = dslc.load(ROOT / "specs" / "zoo" / "resnet.dl")
    r50, r18 = program.models["ResNet50"], program.models["ResNet18"]
    assert compare(r50, r18)["macs_ratio"] is None
    assert compare_line(r50, r18).endswith("its MACs per example depend on H, W (give --dim)")
    c = compare(r50, r18, {"H": 224, "W": 224})
    assert c["params_ratio"] == pytest.approx(11_689_512 / 25_557_032)
    assert c["macs_ratio"] == pytest.approx(1.81 / 4.09, abs=0.003)
    assert compare_line(r50, r18, {"H": 224}).endswith("depend on W (give --dim)")




TOPO = ROOT / "specs" / "seeds" / "topologies.dl"


def test_dims_make_shapes_and_macs_concrete_everywhere(capsys):
    code, out, _ = cli(capsys, "summary", TOPO, "--model", "AdaptivePool", "--dim", "H=32",
                        "--dim", "W=48")
    assert code == 0
    first = next(l for l in out.splitlines() if l.startswith("Features_1.conv2d_1"))
    # conv 3 -> 64, 3x3 `same`: 32*48 positions x 64 outputs x 27 weights each
    assert "f32[N, 64, 32, 48]" in first and f"{32 * 48 * 64 * 27:,}" in first
    assert re.search(r"^image\s+input\s+f32\[N, 3, 32, 48\]$", out, re.M)
    assert "H" not in out.split("activations:")[1]


def test_batch_from_dim_and_weights_memory(capsys):
    code, out, _ = cli(capsys, "summary", ROOT / "specs" / "seeds" / "lenet.dl", "--dim", "N=8")
    assert code == 0 and out.rstrip().endswith("at batch 8")
    assert "weights: 241 KiB in f32" in out          # 61,706 * 4 bytes = 241.0 KiB


@pytest.mark.parametrize("argv,fragment", [
    (["--dim", "Q=8"], "--dim names Q, not a symbolic dim"),
    (["--model", "AdaptivePool", "--dim", "H=2"], "H = 2 is outside its domain (H >= 4)"),
    (["--model", "AdaptivePool", "--dim", "N=8", "--batch", "4"], "the batch is 4 and 8"),
])
def test_dims_are_validated(capsys, argv, fragment):
    code, _, err = cli(capsys, "summary", TOPO, *argv)
    assert code == 2 and fragment in err


def test_op_column_shows_tensor_arguments_by_name_and_defaults_that_matter():
    program = dslc.load(ROOT / "specs" / "seq" / "seq2seq.dl")
    ops = [r["op"] for m in program.models.values() for r in layer_rows(m)]
    assert "lstm(32, layers=2, state=true, lengths=src_len)" in ops
    assert any(o.startswith("lstm(32, layers=2, initial=(") for o in ops)
    text = "model M { input x: f32[N, 4]\n output y = x -> dropout -> leaky_relu -> dropout(0.1) }"
    m = dslc.check_text(text).models["M"]
    assert [r["op"] for r in layer_rows(m)] == ["dropout(0.5)", "leaky_relu(0.01)", "dropout(0.1)"]


def test_compact_honours_depth_and_marks_transposed_convs():
    m = _model("specs/zoo/resnet.dl", "ResNet18")
    lines = compact(m, 0, {"H": 224, "W": 224}).splitlines()
    assert lines[0] == "224x224x3 -[Stem]-> 56x56x64"
    assert len(lines) == 1 + 7 + 3 and lines[-1] == "512 -[dense(1000)]-> 1000"
    t = _model("specs/seeds/transposed.dl", "Upsampler")
    assert "-[4x4, 32, transposed]->" in compact(t)
    # depth 1: layer1's two instances are a line each, like the other blocks
    assert compact(m, 1).splitlines()[4:6] == ["H/4xW/4x64 -[Basic]-> H/4xW/4x64"] * 2


def test_summary_states_the_valid_input_sizes(capsys):
    code, out, _ = cli(capsys, "summary", ROOT / "specs" / "zoo" / "resnet.dl", "--model", "ResNet18")
    # five stride-2 stages: H and W multiples of 32, as the spec's `where` declares
    assert code == 0 and "valid input sizes: H % 32 == 0, H >= 32; W % 32 == 0, W >= 32" in out
    code, out, _ = cli(capsys, "summary", ROOT / "specs" / "seeds" / "lenet.dl")
    assert "valid input sizes" not in out          # fixed sizes (and the batch) only
