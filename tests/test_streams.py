"""Streams: results on stdout, diagnostics on stderr, and under --json a valid JSON document on
stdout in every failure mode (spec errors, unreadable files, unknown models, usage errors),
with every field of each diagnostic."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "specs" / "seeds" / "mlp.dl")
TOPO = str(ROOT / "specs" / "seeds" / "topologies.dl")
# a mismatch at 4:16 (`h + x`): [N, 8] comes from the dense at 3:14, [N, 4] from the input at 2:5
MISMATCH = ("model M {\n"
            "    input x: f32[N, 4]\n"
            "    h = x -> dense(8)\n"
            "    output y = h + x\n"
            "}\n")


def doc_of(out: str) -> dict:
    doc = json.loads(out)
    assert {"models", "diagnostics", "error"} <= set(doc)
    return doc


@pytest.fixture
def files(tmp_path):
    (tmp_path / "mismatch.dl").write_text(MISMATCH)
    (tmp_path / "syntax.dl").write_text("model M {\n    input x: f32[N, 4]\n    output y = x -> -> relu\n}\n")
    (tmp_path / "binary.dl").write_bytes(b"\x00")
    (tmp_path / "empty.dl").write_text("")
    return tmp_path


def test_a_diagnostic_in_json_has_every_field_of_the_render(capsys, files):
    spec = str(files / "mismatch.dl")
    for command in ("check", "summary"):
        code, out, err = run(capsys, command, spec, "--json")
        assert code == 1 and f"{spec}:4:16: error[E302]" in err        # the render on stderr too
        doc = doc_of(out)
        assert doc["models"] == [] and doc["error"] is None
        (d,) = doc["diagnostics"]
        assert {k: d[k] for k in ("severity", "code", "file", "line", "col", "end_line", "end_col")} == \
            {"severity": "error", "code": "E302", "file": spec, "line": 4, "col": 16, "end_line": 4,
             "end_col": 21}
        assert d["expected"] == "[N, 8]" and d["got"] == "[N, 4]" and "do not match" in d["message"]
        assert [(n["file"], n["line"], n["col"]) for n in d["notes"]] == [(spec, 3, 14), (spec, 2, 5)]
        assert all("comes from here" in n["message"] for n in d["notes"])
        assert set(d) == {"severity", "code", "message", "file", "line", "col", "end_line", "end_col",
                          "expected", "got", "notes", "help", "requires"}
        assert d["requires"] == []      # broadcasting sizes that never agree: nothing to require


@pytest.mark.parametrize("command", ["check", "summary"])
def test_every_failure_is_a_json_document_on_stdout(capsys, files, command):
    cases = [  # (argv after the command, exit code, the error line or None, diagnostic codes)
        ([str(files / "syntax.dl")], 1, None, ["E101"]),
        ([str(files / "empty.dl")], 1, None, ["E210"]),
        ([str(files / "binary.dl")], 2, f"dslc: cannot read '{files / 'binary.dl'}': a binary file, "
                                        "not spec text (a NUL byte at byte 0)", []),
        ([str(files / "gone.dl")], 2, f"dslc: cannot read '{files / 'gone.dl'}': No such file or directory", []),
        ([str(files)], 2, f"dslc: cannot read '{files}': Is a directory", []),
        ([], 2, f"dslc {command}: error: the following arguments are required: spec", []),
        ([MLP, "--bogus"], 2, "dslc: error: unrecognized arguments: --bogus", []),
    ]
    if command == "summary":
        cases += [([MLP, "--model", "Nope"], 2, "dslc: no model `Nope` in the spec (it has DeepMLP)", []),
                  ([TOPO], 0, None, []),
                  ([MLP, "--compact"], 2, "dslc: --json and --compact are two forms of the output: "
                                          "choose one", []),
                  ([MLP, "--batch", "0"], 2, "dslc: --batch must be >= 1 and --depth >= 0", []),
                  ([MLP, "--batch", "x"], 2, "dslc summary: error: argument --batch: invalid int value: 'x'", [])]
    for argv, code, error, codes in cases:
        got, out, err = run(capsys, command, *argv, "--json")
        doc = doc_of(out)
        assert got == code and doc["error"] == error, (argv, got, out)
        assert [d["code"] for d in doc["diagnostics"]] == codes, argv
        if error:
            assert doc["models"] == [] and err.strip().splitlines()[-1] == error   # stderr too


def test_argparse_errors_without_json_print_as_argparse_prints_them(capsys):
    code, out, err = run(capsys, "check")
    assert code == 2 and out == ""
    from dslc.cli import parser
    usage = parser()._subparsers._group_actions[0].choices["check"].format_usage()
    assert usage.startswith("usage: dslc check [-h] [--json]")
    assert err == usage + "dslc check: error: the following arguments are required: spec\n"


def test_results_on_stdout_diagnostics_on_stderr(capsys, files):
    warn = files / "warn.dl"
    warn.write_text("model M { input x: f32[N, 4]\n h = x -> dense(3)\n output y = x -> relu }\n")
    code, out, err = run(capsys, "check", str(warn))
    assert code == 0 and out == "M: 15 parameters; y: f32[N, 4]\n" and "warning[W201]" in err
    code, out, err = run(capsys, "check", str(warn), "--json")
    assert code == 0 and [d["code"] for d in doc_of(out)["diagnostics"]] == ["W201"] and "W201" in err
    code, out, err = run(capsys, "check", str(files / "mismatch.dl"))
    assert code == 1 and out == "" and "error[E302]" in err


def test_json_survives_a_real_process(files):
    """The same contract through `python -m dslc`: nothing but the document on stdout."""
    p = subprocess.run([sys.executable, "-m", "dslc", "check", str(files / "syntax.dl"), "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and json.loads(p.stdout)["diagnostics"][0]["code"] == "E101"
    assert "Traceback" not in p.stderr and "error[E101]" in p.stderr


# ---- summary --json: the table's numbers, from hand computation ----
def test_summary_json_counts_macs_and_activation_bytes(capsys):
    code, out, _ = run(capsys, "summary", MLP, "--json", "--batch", "2")
    (m,) = doc_of(out)["models"]
    widths = [1000, 300, 100, 50, 20, 5, 1]
    macs = sum(a * b for a, b in zip(widths, widths[1:]))                       # 336,105
    params = sum(a * b + b for a, b in zip(widths, widths[1:]))                 # 336,581
    activations = 2 * (300 + 100 + 50 + 20 + 5) + 1                             # dense + tanh outputs
    assert code == 0 and m["name"] == "DeepMLP" and m["params"] == params
    assert m["macs"] == macs and m["activation_bytes"] == 4 * 2 * activations and m["batch"] == 2
    assert [layer["macs"] for layer in m["layers"]][::2] == [a * b for a, b in zip(widths, widths[1:])]
    assert all(layer["macs"] == 0 for layer in m["layers"][1::2])             # tanh


def test_summary_json_folds_symbolic_sizes_and_compares(capsys, tmp_path):
    spec = tmp_path / "pair.dl"
    spec.write_text("block Two(x: [N, C, H, W]) { return x -> conv2d(C, 3, padding=1) -> relu"
                    " -> conv2d(C, 1) }\n"
                    "model Big { input x: f32[N, 4, H, W]\n output y = x -> Two -> Two }\n"
                    "model Small { input x: f32[N, 4, H, W]\n output y = x -> Two }\n")
    code, out, _ = run(capsys, "summary", str(spec), "--json", "--depth", "0", "--compare", "Big", "Small")
    doc = doc_of(out)
    big, small = doc["models"]
    per_two = 4 * 4 * 9 + 4 * 4                                   # MACs per output position
    assert code == 0 and [r["name"] for r in big["layers"]] == ["Two_1", "Two_2"]
    assert [r["params"] for r in big["layers"]] == [(4 * 4 * 9 + 4) + (4 * 4 + 4)] * 2
    assert big["layers"][0]["macs"].replace(" ", "") in (f"{per_two}*H*W", f"{per_two}*W*H")
    two = (4 * 4 * 9 + 4) + (4 * 4 + 4)
    assert doc["compare"]["params"] == [2 * two, two] and doc["compare"]["params_ratio"] == 0.5
    assert doc["compare"]["macs_ratio"] is None and doc["compare"]["symbolic"] == ["H", "W"]
    code, out, _ = run(capsys, "summary", str(spec), "--json", "--compare", "Big", "Small",
                       "--dim", "H=8", "--dim", "W=8")
    doc = doc_of(out)
    assert doc["compare"]["macs"] == [2 * per_two * 64, per_two * 64] and doc["compare"]["macs_ratio"] == 0.5
    assert doc["models"][1]["macs"] == per_two * 64


# ---- colour on a terminal, plain text when piped or NO_COLOR ----
def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    import re as _re

    from dslc import check_text
    from dslc.diagnostics import render, use_color

    class Tty:
        def isatty(self):
            return True
    program = check_text(MISMATCH, "m.dl")
    (d,) = program.errors
    plain, coloured = render(d, program.sources), render(d, program.sources, color=True)
    assert "\x1b[" not in plain and "\x1b[1;31merror[E302]\x1b[0m" in coloured
    assert _re.sub(r"\x1b\[[\d;]*m", "", coloured) == plain       # the same text, painted
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(Tty()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())
