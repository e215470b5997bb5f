"""The coverage contract (dslc/tools/coverage.py, the matrix in docs/reference.md): every op has
an entry in every backend's table; the instances a backend refuses are exactly the few listed
here, each a located E401 that `dslc check --target` reports before any compile; the static
reading of the tables agrees with the tables Python dispatches through; the import column
states what tests/test_onnx_import.py round-trips."""
from __future__ import annotations

import json
import re

import pytest

from dslc import load
from dslc.backends.onnx import table as onnx_table
from dslc.backends.torch import table as torch_table
from dslc.backends.torch_src import table as src_table
from dslc.ops import ALL_OPS, INDEX
from dslc.tools import coverage
from dslc.tools.lowering_scan import _registered
from specfiles import ir_only, valid_specs

# (kind, column) -> the refusals allowed there (message fragments of the matrix's text)
ALLOWED = {
    # a symbol the checker could not have a model input carry (it refuses such specs itself)
    **{(k, "torch-src"): ("no input carries the size",)
       for k in ("slice", "topk", "expand", "reshape", "flatten", "maxout", "arange",
                 "window_merge")},
    # tie={bias: ...} on a weight-normed layer: its own g and v have dotted names
    **{(f"conv{n}d", "torch-src"): ("a tied convolution with a padding mode",
                                     "a weight-normed layer tied by parameter") for n in (1, 2, 3)},
    ("dense", "torch-src"): ("a weight-normed layer tied by parameter",),
    # uneven adaptive windows are a Slice each in ONNX: at most 4,096 of them
    **{(f"adaptive_{r}pool{d}", "onnx"): ("windows of uneven size is a Slice per window",)
       for r in ("avg", "max") for d in ("", "1d", "2d", "3d")},
}
# torch-src writes a tied layer for dense, convolutions and embedding only
TIED = "a tied {…} has no source form"
MATRIX = coverage.matrix()


@pytest.mark.parametrize("kind", list(INDEX))
def test_every_op_lowers_in_every_backend(kind):
    row = MATRIX[kind]
    missing = [c for c in ("torch", "torch-src", "onnx", "onnx --fuse") if not row[c].lowers]
    assert not missing, f"{kind} has no entry for {', '.join(missing)}"


@pytest.mark.parametrize("kind", list(INDEX))
def test_refusals_are_the_listed_ones(kind):
    for column, c in MATRIX[kind].items():
        allowed = ALLOWED.get((kind, column), ())
        if column == "torch-src" and TIED in c.refusals:
            allowed += (TIED,)
        assert len(c.refusals) == len(allowed) and all(
            any(a in r for r in c.refusals) for a in allowed), (kind, column, c.refusals)


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.kind)
def test_the_static_reading_finds_the_entry_python_dispatches_to(op):
    for table, name in ((torch_table, ("dslc.backends.torch.table", "lowering")),
                        (src_table, ("dslc.backends.torch_src.table", "source")),
                        (onnx_table, ("dslc.backends.onnx.table", "lowering"))):
        fn = table.entry(op)
        module, node = _registered(name, op.__mro__)
        assert (fn.__module__, fn.__name__) == (module, node.name), op.kind


def test_the_import_column_is_what_the_round_trip_test_imports():
    kinds = {n.kind for p in valid_specs() if not ir_only(p)
             for m in load(str(p)).models.values() for n in m.nodes}
    assert {k for k, row in MATRIX.items() if row["import"].lowers} == kinds


# ---- the refusals are located diagnostics at check time ----
SPEC = """model M {
    input x: f32[N, 4]
    h = x -> dense(8)
    output y = h -> relu
}
"""


@pytest.fixture
def refusing(monkeypatch):
    """Each backend's table refusing relu, as an entry that cannot express an instance does."""
    from dslc.ops.base import Unsupported

    def refuse(real):
        def entry(op, *args):
            if op.kind == "relu":
                raise Unsupported("no relu here")
            return real(op, *args)
        return entry
    for module, table in ((torch_table, "lowering"), (onnx_table, "lowering"), (src_table, "source")):
        module.load()           # every family registered in the real table first
        monkeypatch.setattr(module, table, refuse(getattr(module, table)))


def _check(capsys, tmp_path, *flags):
    from dslc.cli import main
    spec = tmp_path / "m.dl"
    spec.write_text(SPEC)
    code = main(["check", str(spec), *flags])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target", ["torch", "onnx", "torch-src"])
def test_check_target_reports_a_refusal_at_the_layer(refusing, capsys, tmp_path, target):
    assert _check(capsys, tmp_path)[0] == 0          # a plain check lowers nothing
    code, _, err = _check(capsys, tmp_path, "--target", target)
    assert code == 1
    name = {"onnx": "ONNX"}.get(target, target)
    assert re.search(rf"m\.dl:4:21: error\[E401\]: the {name} backend cannot express "
                     r"`relu`: no relu here", err), err


def test_check_target_in_json(refusing, capsys, tmp_path):
    code, out, _ = _check(capsys, tmp_path, "--target", "torch", "--target", "onnx", "--json")
    doc = json.loads(out)
    assert code == 1
    assert [(d["code"], d["line"]) for d in doc["diagnostics"]] == [("E401", 4)] * 2


def test_check_target_passes_what_lowers(capsys, tmp_path):
    code, out, err = _check(capsys, tmp_path, "--target", "torch", "--target", "onnx",
                            "--target", "torch-src")
    assert (code, err) == (0, "") and out.startswith("M: 40 parameters")
