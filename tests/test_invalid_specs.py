"""Every negative spec under specs/invalid/ gets exactly the diagnostics written in its
comments (`# E: CODE fragment` on the offending line, `# W:` for a warning), located at that
line; a `# lower: onnx` spec checks cleanly and gets them from that backend, a `# check: FLAGS`
spec from `dslc check FLAGS` (budgets)."""
from __future__ import annotations

import pytest

from dslc.diagnostics import CODES
from specfiles import diagnose, expectations, invalid_specs


@pytest.mark.parametrize("path", invalid_specs(), ids=lambda p: p.stem)
def test_negative_spec(path):
    expected = expectations(path)
    assert expected, f"{path.name} states no expected diagnostic"
    diagnostics, _ = diagnose(path)
    got = [(d.span.line if d.span else None, d.code, d.message) for d in diagnostics]
    for line, code, fragment in expected:
        assert any(g[0] == line and g[1] == code and fragment in g[2] for g in got), \
            f"expected {code} '{fragment}' at line {line}; got {got}"
    assert len(got) == len(expected), f"unexpected extra diagnostics: {got}"


def test_corpus_has_every_code():
    """Every code of the registry has a negative spec here (E401 through `# lower:`, E501
    through `# check:` flags); docs/errors.md shows one of them per code."""
    codes = {code for p in invalid_specs() for _, code, _ in expectations(p)}
    assert set(CODES) <= codes, f"codes without a negative spec: {sorted(set(CODES) - codes)}"
    assert codes <= set(CODES), f"specs expect codes the registry lacks: {sorted(codes - set(CODES))}"
