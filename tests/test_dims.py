"""Symbolic sizes: canonical forms, exact division, floor division, evaluation."""
from __future__ import annotations

import pytest

from dslc.ir.dims import Dim

H, W, N = Dim.of("H"), Dim.of("W"), Dim.of("N")


def test_constants_fold():
    assert (Dim.of(3) * 4 + 1).value == 13
    assert (Dim.of(97) // 4).value == 24
    assert Dim.of(10).cdiv(4).value == 3


def test_polynomials_are_canonical():
    assert H * W == W * H
    assert H + H == 2 * H
    assert (H + 1) - 1 == H
    assert str(Dim.of(64) * H * W) == "64*H*W"


def test_exact_division_simplifies():
    assert (4 * H) // 4 == H
    assert (2 * H + 2) // 2 == H + 1
    assert (4 * H + 5) // 4 == H + 1


def test_inexact_division_stays_opaque_and_evaluates_like_python():
    d = (H - 1) // 2 + 1
    assert str(d) == "(H + 1) // 2"        # the remainder is kept in [0, 2): one canonical form
    assert d == (H + 1) // 2
    for h in range(1, 40):
        assert d.evaluate({"H": h}) == (h - 1) // 2 + 1
    assert d.symbols() == {"H"}


def test_opaque_atoms_compare_structurally():
    assert (H - 1) // 2 == (H - 1) // 2
    assert (H - 1) // 2 != (H - 1) // 3


def test_subs_partially():
    d = N * (H // 4)
    assert d.subs({"N": 1}) == H // 4
    assert d.subs({"N": 2, "H": 10}).value == 4


def test_symbolic_divisor_is_refused():
    with pytest.raises(ValueError):
        H // W


def test_division_by_zero_is_refused():
    with pytest.raises(ZeroDivisionError):
        H // 0


def test_json_form():
    assert Dim.of(5).to_json() == 5
    assert (H * 2).to_json() == "2*H"
