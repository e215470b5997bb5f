"""`dslc check` on several files, with budgets (--max-params, --max-macs: E501 at the model's
line), and `--version`. Reference counts: torchvision's ResNet-50 has 25,557,032 parameters and
4.09 GMACs at 224x224 (its docs' "GFLOPS" column counts multiply-adds); the 1000-300-100-50-20-5-1
MLP of the course text has 336,581."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dslc import __version__
from dslc.tools.budgets import parse_count
from dslc.cli import main
from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "specs" / "seeds" / "mlp.dl")
RESNET = str(ROOT / "specs" / "zoo" / "resnet.dl")
BAD = str(ROOT / "specs" / "invalid" / "residual_mismatch.dl")


@pytest.mark.parametrize("text,value", [("25M", 25_000_000), ("1.5G", 1_500_000_000), ("4.1G", 4_100_000_000),
                                        ("336581", 336_581), ("25_000_000", 25_000_000),
                                        ("4k", 4000), ("2T", 2 * 10 ** 12), ("25,557,032", 25_557_032)])
def test_counts_take_decimal_suffixes(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "M", "-3M", "1.0000001K", "25MiB", "ten"])
def test_bad_counts_are_refused(text):
    with pytest.raises(ValueError):
        parse_count(text)


def test_params_budget_fails_at_the_model_line_with_the_biggest_places(capsys):
    code, out, err = run(capsys, "check", RESNET, "--max-params", "25M")
    assert code == 1
    lines = Path(RESNET).read_text().splitlines()
    at = next(i for i, l in enumerate(lines, 1) if l.startswith("model ResNet50"))
    assert f"resnet.dl:{at}:1: error[E501]: model ResNet50 has 25,557,032 parameters, over the " \
           "budget of 25,000,000 (--max-params 25M)" in err
    assert "ResNet18" not in err                      # 11,689,512: within the budget
    assert err.count("note: ") == 3 and "in 16 layers" in err   # a bottleneck line, 16 calls
    assert "ResNet18: 11,689,512 parameters" in out and "ResNet50" not in out   # it failed


def test_within_budget_passes(capsys):
    code, out, err = run(capsys, "check", MLP, "--max-params", "336581", "--max-macs", "337K")   # 336,105 MACs
    assert code == 0 and err == "" and "336,581 parameters" in out


def test_one_over_budget_is_exit_1(capsys):
    code, _, err = run(capsys, "check", MLP, "--max-params", "336580")
    assert code == 1 and "336,581 parameters, over the budget of 336,580" in err


def test_macs_budget_needs_sizes_then_holds_them(capsys):
    code, _, err = run(capsys, "check", RESNET, "--max-macs", "5G")
    assert code == 1 and "cannot check --max-macs 5G: its MACs per example depend on H, W" in err
    assert "--dim H=... --dim W=..." in err
    code, _, err = run(capsys, "check", RESNET, "--max-macs", "4G", "--dim", "H=224", "--dim", "W=224")
    assert code == 1 and "ResNet50 has 4,089,184,256 MACs per example" in err    # 4.09 G
    code, _, err = run(capsys, "check", RESNET, "--max-macs", "4.1G", "--dim", "H=224", "--dim", "W=224")
    assert code == 0 and err == ""


def test_budget_in_json(capsys):
    code, out, _ = run(capsys, "check", MLP, "--max-params", "300K", "--json")
    doc = json.loads(out)
    assert code == 1 and [d["code"] for d in doc["diagnostics"]] == ["E501"]
    d = doc["diagnostics"][0]
    assert d["expected"] == "at most 300,000" and d["got"].startswith("336,581") and d["notes"]


def test_bad_budget_flag_is_usage(capsys):
    code, _, err = run(capsys, "check", MLP, "--max-params", "lots")
    assert code == 2 and "--max-params: a count is a number" in err


def test_several_files_each_checked(capsys):
    code, out, err = run(capsys, "check", MLP, BAD, "no/such.dl", RESNET)
    assert code == 2                                   # the worst: a file that cannot be read
    assert "DeepMLP: 336,581 parameters" in out and "ResNet50: 25,557,032 parameters" in out
    assert "error[E302]" in err and "cannot read 'no/such.dl'" in err
    code, out, _ = run(capsys, "check", MLP, BAD)
    assert code == 1


def test_several_files_one_json_document(capsys):
    code, out, _ = run(capsys, "check", MLP, BAD, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["error"] is None
    assert [(m["file"], m["name"]) for m in doc["models"]] == [(MLP, "DeepMLP")]
    assert {d["file"] for d in doc["diagnostics"]} == {BAD}
    code, out, _ = run(capsys, "check", MLP, "no/such.dl", "--json")
    doc = json.loads(out)
    assert code == 2 and "no/such.dl" in doc["error"] and doc["models"][0]["name"] == "DeepMLP"


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"dslc {__version__}"


def test_check_reads_standard_input():
    import subprocess
    import sys
    text = "model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3, unit=2)\n}\n"
    p = subprocess.run([sys.executable, "-m", "dslc", "check", "-"], input=text,
                       capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("<stdin>:3:30: error[E203]")
    assert "(`dslc ops dense` lists its arguments)" in p.stderr
    p = subprocess.run([sys.executable, "-m", "dslc", "check", "-"],
                       input=text.replace(", unit=2", ""), capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "M: 15 parameters; y: f32[N, 3]"   # 4*3 + 3
