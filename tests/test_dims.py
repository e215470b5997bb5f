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


def _brute_condition(a, b, limit=1024):
    """condition_for_equal as it was: every multiple of the symbol's modulus, in order."""
    from dslc.ir.dims import facts
    for s in sorted(a.symbols() | b.symbols()):
        for m in range(2, limit + 1):
            with facts({s: m}):
                if a.resimplify() == b.resimplify():
                    return f"{s} % {m} == 0"
    return None


def _pairs():
    s = Dim.of("S")
    nested = lambda d, k, off: s if k == 0 else (nested(d, k - 1, off) + off) // d  # noqa: E731
    return [(nested(4, 5, 1) * 1024, s), (nested(2, 3, 0) * 8, s), (nested(3, 2, 0) * 9, s),
            ((s // 6) * 6, s), ((s // 4) * 2, s // 2), (nested(4, 3, 1) * 3, s * 3 // 64),
            ((s + 3) // 4 * 4, s + 3), (nested(5, 2, 2) * 25, s)]


@pytest.mark.parametrize("pair", range(8))
def test_condition_for_equal_tries_only_divisors_and_finds_the_weakest(pair):
    """The moduli tried are the divisors of the denominators' product (issue 23: five nested
    `// 4` tried 511, 5 s); the answer is the one trying every modulus gives."""
    from dslc.ir.dims import condition_for_equal
    a, b = _pairs()[pair]
    assert condition_for_equal(a, b) == _brute_condition(a, b)
