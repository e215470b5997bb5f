"""The side-by-side benchmark's smoke mode runs (benchmarks/compare.py --smoke: LeNet, one
run) and prints its table: dslc check, compile and onnxruntime latency beside torchinfo,
torch.onnx.export (dynamo and legacy) and torch eager. No timing is asserted here."""
from __future__ import annotations

import subprocess
import sys

from specfiles import ROOT


def test_compare_smoke_prints_the_table():
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--smoke"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    head, rule, row = [l for l in p.stdout.splitlines() if l.startswith("|")]
    assert "torch.onnx.export dynamo" in head and row.startswith("| lenet | ")
    assert row.count("|") == head.count("|") and "MiB" in row and " ms" in row
