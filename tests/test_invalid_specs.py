"""Every negative spec under specs/invalid/ gets exactly the diagnostics written in its
comments (`# E: CODE fragment` on the offending line), located at that line."""
from __future__ import annotations

import pytest

import dslc
from specfiles import expectations, invalid_specs


@pytest.mark.parametrize("path", invalid_specs(), ids=lambda p: p.stem)
def test_negative_spec(path):
    expected = expectations(path)
    assert expected, f"{path.name} states no expected diagnostic"
    program = dslc.check_text(path.read_text(), str(path))
    got = [(d.span.line if d.span else None, d.code, d.message) for d in program.errors]
    for line, code, fragment in expected:
        assert any(g[0] == line and g[1] == code and fragment in g[2] for g in got), \
            f"expected {code} '{fragment}' at line {line}; got {got}"
    assert len(got) == len(expected), f"unexpected extra diagnostics: {got}"


def test_corpus_has_every_kind_of_error():
    codes = {code for p in invalid_specs() for _, code, _ in expectations(p)}
    assert {"E101", "E201", "E202", "E203", "E301", "E302", "E303", "E304", "E305"} <= codes
