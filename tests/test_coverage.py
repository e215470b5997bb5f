"""The coverage contract (dslc/tools/coverage.py, the matrix in docs/reference.md): every op has
an entry in every backend's table; the instances a backend refuses are exactly the few listed
here, each a located E401 that `dslc check --target` reports before any compile; the static
reading of the tables agrees with the tables Python dispatches through; the import column
states what tests/test_onnx_import.py round-trips."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from dslc import load
from dslc.backends.onnx import table as onnx_table
from dslc.backends.torch import table as torch_table
from dslc.ops import ALL_OPS, INDEX
from dslc.tools import coverage
from dslc.tools.lowering_scan import _registered
from specfiles import ir_only, valid_specs

# (kind, column) -> the refusals allowed there (message fragments of the matrix's text)
ALLOWED = {
    **{(k, c): ("needs the value of",) for k in ("slice", "topk") for c in ("torch", "onnx")},
    **{(k, c): ("has more than one size that is neither known nor an input dim",)
       for k in ("flatten", "reshape") for c in ("torch", "onnx")},
    **{(f"conv_transpose{n}d", "torch"): ("symmetric padding only",) for n in (1, 2, 3)},
}
MATRIX = coverage.matrix()


@pytest.mark.parametrize("kind", list(INDEX))
def test_every_op_lowers_in_every_backend(kind):
    row = MATRIX[kind]
    missing = [c for c in ("torch", "onnx", "onnx --fuse") if not row[c].lowers]
    assert not missing, f"{kind} has no entry for {', '.join(missing)}"


@pytest.mark.parametrize("kind", list(INDEX))
def test_refusals_are_the_listed_ones(kind):
    for column, c in MATRIX[kind].items():
        allowed = ALLOWED.get((kind, column), ())
        assert len(c.refusals) == len(allowed) and all(
            any(a in r for r in c.refusals) for a in allowed), (kind, column, c.refusals)


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.kind)
def test_the_static_reading_finds_the_entry_python_dispatches_to(op):
    for table, name in ((torch_table, "dslc.backends.torch.table"),
                        (onnx_table, "dslc.backends.onnx.table")):
        fn = table.entry(op)
        module, node = _registered((name, "lowering"), op.__mro__)
        assert (fn.__module__, fn.__name__) == (module, node.name), op.kind


def test_the_import_column_is_what_the_round_trip_test_imports():
    kinds = {n.kind for p in valid_specs() if not ir_only(p)
             for m in load(str(p)).models.values() for n in m.nodes}
    assert {k for k, row in MATRIX.items() if row["import"].lowers} == kinds


# ---- the refusals are located diagnostics at check time ----
ASYMMETRIC = """model M {
    input x: f32[N, 4, 8]
    output y = x -> conv_transpose1d(4, 3, padding=(0, 1))
}
"""


def _check(tmp_path, text, *flags):
    spec = tmp_path / "m.dl"
    spec.write_text(text)
    return subprocess.run([sys.executable, "-m", "dslc", "check", str(spec), *flags],
                          capture_output=True, text=True)


def test_check_target_reports_a_refusal_at_the_layer(tmp_path):
    plain = _check(tmp_path, ASYMMETRIC)
    assert plain.returncode == 0, plain.stderr
    r = _check(tmp_path, ASYMMETRIC, "--target", "torch")
    assert r.returncode == 1
    assert re.search(r"m\.dl:3:21: error\[E401\]: the torch backend cannot express "
                     r"`conv_transpose1d\(4, 3, padding=\(0, 1\)\)`: torch's transposed "
                     r"convolution takes symmetric padding only", r.stderr), r.stderr
    assert _check(tmp_path, ASYMMETRIC, "--target", "onnx").returncode == 0


def test_check_target_in_json(tmp_path):
    r = _check(tmp_path, ASYMMETRIC, "--target", "torch", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 1
    assert [(d["code"], d["line"]) for d in doc["diagnostics"]] == [("E401", 3)]
