"""Symbolic sizes: canonical forms, exact division, floor division, evaluation, the fold that
the lowerings compute sizes with."""
from __future__ import annotations

import operator
from fractions import Fraction

import pytest

from dslc.ir.dims import Dim, facts

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


def _text(d: Dim) -> str:
    return d.fold(str, str, lambda a, b: f"({a} + {b})", lambda a, b: f"{a}*{b}",
                  lambda a, k: f"({a} // {k})")


def _ints(d: Dim, env: dict[str, int]) -> int:
    return d.fold(env.__getitem__, int, operator.add, operator.mul, operator.floordiv)


def test_fold_writes_the_expression_it_walks():
    """Each monomial is its coefficient (left out when 1) times its atoms; opaque floors fold
    their numerator first."""
    assert _text(3 * H * W + 2) == "(3*H*W + 2)"
    assert _text(H - 2 * W) == "(H + -2*W)"
    assert _text((H + 1) // 2) == "((H + 1) // 2)"
    assert _text(Dim.of(0)) == "0" and _text(Dim.of(7)) == "7" and _text(H) == "H"


@pytest.mark.parametrize("f", [
    lambda h, w, n: 3 * h * w + 2, lambda h, w, n: (h + 1) // 2 * w - 5,
    lambda h, w, n: ((h * w + 3) // 4 + n) // 3, lambda h, w, n: h // 4 * 2 + w // 4,
    lambda h, w, n: n * (h - 1) // 2 + 1])
def test_fold_on_ints_and_evaluate_are_python_arithmetic(f):
    """The same expression built on Dims and computed on Python ints (the oracle)."""
    d = f(H, W, N)
    for env in ({"H": 7, "W": 5, "N": 2}, {"H": 12, "W": 1, "N": 3}, {"H": 1, "W": 9, "N": 1}):
        want = f(env["H"], env["W"], env["N"])
        assert _ints(d, env) == d.evaluate(env) == want


def test_evaluate_outside_the_constraints_is_refused():
    with facts({"H": 4}):
        quarter, inner = H // 4, (H // 4 + 1) // 2
    assert quarter.evaluate({"H": 12}) == 3 and inner.evaluate({"H": 12}) == 2
    for d in (quarter, inner):
        with pytest.raises(ValueError, match="not whole"):
            d.evaluate({"H": 10})


def test_fold_divides_a_rational_coefficient_exactly():
    """Under `H % 4 == 0` H/4 is a term with coefficient 1/4: `exact` gets it, floordiv not."""
    with facts({"H": 4, "W": 4}):
        d = H // 4 * (W // 4) + H // 2
    calls = []
    got = d.fold(lambda s: {"H": 12, "W": 8}[s], Fraction, operator.add, operator.mul,
                 lambda a, k: calls.append(("floor", k)) or a // k,
                 lambda a, k: calls.append(("exact", k)) or a / k)
    assert got == 12 * 8 // 16 + 6 and {c[0] for c in calls} == {"exact"}


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
    found = condition_for_equal(a, b)
    assert (str(found) if found else None) == _brute_condition(a, b)
