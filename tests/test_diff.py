"""`dslc diff`: layers aligned by what they are (an insertion is one `+` row, not a renumbering
of everything after it), with shape, parameter and MAC changes. Expected counts are the
conv and dense formulas, worked here: conv2d(c_out, k) on c_in channels has c_in*k*k*c_out +
c_out parameters; dense(u) on width d has d*u + u."""
from __future__ import annotations

import json
from pathlib import Path

from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "specs" / "seeds" / "lenet.dl"
RESNET = ROOT / "specs" / "zoo" / "resnet.dl"


def _rows(out: str) -> list[str]:
    """The table's rows (not its head, its rule, the blank line or the totals)."""
    return [l for l in out.splitlines() if l[:3] in ("~  ", "+  ", "-  ", "=  ")
            and not set(l) <= set("- ")]


def _variant(tmp_path, old: str, new: str) -> Path:
    text = LENET.read_text()
    assert old in text
    p = tmp_path / "b.dl"
    p.write_text(text.replace(old, new, 1))
    return p


def test_a_wider_conv_changes_it_and_what_reads_it(capsys, tmp_path):
    b = _variant(tmp_path, "conv2d(16, 5)", "conv2d(32, 5)")
    code, out, _ = run(capsys, "diff", LENET, b)
    assert code == 0
    rows = _rows(out)
    conv = next(l for l in rows if "conv2d(16, 5) -> conv2d(32, 5)" in l)
    old, new = 6 * 25 * 16 + 16, 6 * 25 * 32 + 32
    assert conv.startswith("~") and f"{old:,} -> {new:,} (+{new - old:,})" in conv
    dense = next(l for l in rows if "dense(120)" in l)            # flatten: 16*5*5 -> 32*5*5
    assert f"{400 * 120 + 120:,} -> {800 * 120 + 120:,}" in dense
    assert not any("dense(84)" in l for l in rows)                # unchanged: not shown
    assert f"parameters: 61,706 -> {61_706 + (new - old) + 400 * 120:,}" in out


def test_an_inserted_layer_is_one_row(capsys, tmp_path):
    b = _variant(tmp_path, "-> tanh -> maxpool2d(2)", "-> tanh -> dropout(0.1) -> maxpool2d(2)")
    code, out, _ = run(capsys, "diff", LENET, b)
    rows = _rows(out)
    assert code == 0 and len(rows) == 1 and rows[0].startswith("+") and "dropout" in rows[0]
    assert "parameters: 61,706" in out and "->" not in out.split("parameters:")[1].splitlines()[0]


def test_same_model_has_no_changes(capsys):
    code, out, _ = run(capsys, "diff", LENET, LENET)
    assert code == 0 and out.startswith("LeNet and LeNet: no layer differs")
    code, out, _ = run(capsys, "diff", LENET, LENET, "--all")
    assert code == 0 and sum(l.startswith("=") for l in _rows(out)) > 5


def test_models_of_one_file_and_json(capsys):
    code, out, _ = run(capsys, "diff", f"{RESNET}:ResNet18", f"{RESNET}:ResNet50", "--depth", "0",
                       "--json", "--dim", "H=224", "--dim", "W=224")
    doc = json.loads(out)
    assert code == 0 and (doc["a"], doc["b"]) == ("ResNet18", "ResNet50")
    assert doc["params"] == [11_689_512, 25_557_032]                # torchvision's counts
    assert [round(m / 1e9, 2) for m in doc["macs"]] == [1.81, 4.09]   # torchvision's GFLOPS
    fc = next(r for r in doc["layers"] if r["a"] and r["a"]["name"] == "fc")
    assert fc["change"] == "~" and (fc["a"]["params"], fc["b"]["params"]) == (
        512 * 1000 + 1000, 2048 * 1000 + 1000)


def test_errors_and_usage(capsys, tmp_path):
    bad = ROOT / "specs" / "invalid" / "residual_mismatch.dl"
    code, _, err = run(capsys, "diff", LENET, bad)
    assert code == 1 and "error[E302]" in err
    code, _, err = run(capsys, "diff", RESNET, LENET)
    assert code == 2 and "choose one with --model" in err
    code, _, err = run(capsys, "diff", f"{RESNET}:VGG", LENET)
    assert code == 2 and "no model `VGG`" in err


def test_renumbered_names_are_reported(capsys, tmp_path):
    b = _variant(tmp_path, "-> tanh -> maxpool2d(2)", "-> tanh -> conv2d(6, 1) -> maxpool2d(2)")
    code, out, _ = run(capsys, "diff", LENET, b)
    assert code == 0 and "(conv2d_2 -> conv2d_3): a checkpoint of LeNet will not load" in out
    code, out, _ = run(capsys, "diff", LENET, b, "--json")
    doc = json.loads(out)
    assert doc["renamed"] == [["conv2d_2", "conv2d_3"]]
    added = [r["b"] for r in doc["layers"] if r["change"] == "+"]
    assert [(r["name"], r["params"]) for r in added] == [("conv2d_2", 6 * 6 + 6)]
