"""docs/errors.md, the catalogue of diagnostic codes, is what tools/errors_doc.py generates now
(so it cannot drift from the registry, the specs or dslc's messages); it documents every code
in dslc.diagnostics.CODES; each example spec gets its code, and its fix gets nothing; and what
the doc shows is what the command line prints."""
from __future__ import annotations

import importlib.util
import re
import sys

import pytest

from dslc.cli import main
from dslc.diagnostics import CODES
from specfiles import ROOT, cli_args, diagnose, expectations, invalid_specs


def _tool():
    spec = importlib.util.spec_from_file_location("errors_doc", ROOT / "tools" / "errors_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["errors_doc"] = module
    spec.loader.exec_module(module)
    return module


errors_doc = _tool()
DOC = ROOT / "docs" / "errors.md"


def test_the_catalogue_is_current():
    assert DOC.read_text() == errors_doc.catalogue(), \
        "docs/errors.md is stale: run `python tools/errors_doc.py`"


def test_every_code_is_documented_once():
    text = DOC.read_text()
    sections = re.findall(r"^## ([EW]\d{3})$", text, re.M)
    assert sections == list(CODES), "docs/errors.md's sections are not CODES, in order"
    rows = re.findall(r"^\| \[([EW]\d{3})\]\(#\w+\) \| (.*) \|$", text, re.M)
    assert rows == list(CODES.items())


def test_every_code_has_a_negative_spec():
    """Each code is declared by some specs/invalid/*.dl (test_invalid_specs checks that it gets
    it there, at that line), and the catalogue's example for it is one of those."""
    declared = {code for p in invalid_specs() for _, code, _ in expectations(p)}
    assert set(CODES) <= declared, f"codes no negative spec declares: {sorted(set(CODES) - declared)}"
    assert set(errors_doc.ENTRIES) == set(CODES)
    for code, entry in errors_doc.ENTRIES.items():
        assert code in {c for _, c, _ in expectations(entry.path)}, \
            f"{entry.spec}, the example of {code}, does not declare it"


@pytest.mark.parametrize("code", list(errors_doc.ENTRIES))
def test_the_documented_fix_is_clean(code):
    entry = errors_doc.ENTRIES[code]
    diagnostics, _ = diagnose(entry.path, entry.fixed())
    assert not diagnostics, [d.short() for d in diagnostics]


@pytest.mark.parametrize("code", list(errors_doc.ENTRIES))
def test_the_command_line_prints_what_the_doc_shows(code, monkeypatch, tmp_path, capsys):
    entry = errors_doc.ENTRIES[code]
    monkeypatch.chdir(ROOT)
    rc = main(cli_args(entry.path, out=str(tmp_path / "out")))
    assert rc == (0 if code.startswith("W") else 1)
    assert capsys.readouterr().err.rstrip("\n") == errors_doc.reported(code, entry)
