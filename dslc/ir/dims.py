"""Symbolic dimensions: polynomials over symbols and opaque floor divisions, with rational
coefficients where divisibility facts make a division exact.

A `Dim` is kept in a canonical form (monomial -> coefficient), so structural equality is value
equality for everything the shape rules build: `H`, `C*H*W`, `(H + 1) // 2`, and, under the fact
`H % 32 == 0` (see `facts`), `H/4`.
"""
from __future__ import annotations

from dataclasses import dataclass

import contextlib
import math
import operator
from contextvars import ContextVar
from fractions import Fraction
from functools import total_ordering
from typing import Union

DimLike = Union["Dim", int]

# symbol -> a modulus it is known to be a multiple of (from `where H % 32 == 0`)
_FACTS: ContextVar[dict[str, int]] = ContextVar("dslc_dim_facts", default={})


@contextlib.contextmanager
def facts(mods: dict[str, int]):
    """Within this block, divisions use `mods` (symbol -> known modulus) to stay exact. Yields
    the live dict: facts added to it apply from then on."""
    live = dict(mods)
    token = _FACTS.set(live)
    try:
        yield live
    finally:
        _FACTS.reset(token)


@total_ordering
class _FloorDiv:
    """An opaque atom `num // den` whose numerator is not known to divide exactly."""
    __slots__ = ("num", "den", "_key")

    def __init__(self, num: "Dim", den: int):
        self.num, self.den = num, den
        self._key = None

    def key(self):
        if self._key is None:        # computed once: nested divisions would redo it per level
            self._key = (str(self.num), self.den)
        return self._key

    def __eq__(self, other):
        return isinstance(other, _FloorDiv) and self.key() == other.key()

    def __lt__(self, other):
        return _atom_key(self) < _atom_key(other)

    def __hash__(self):
        return hash(self.key())

    def __str__(self):
        inner = str(self.num)
        return f"({inner}) // {self.den}" if not self.num.is_atom() else f"{inner} // {self.den}"


def _atom_key(a) -> tuple:
    return (1, *a.key()) if isinstance(a, _FloorDiv) else (0, a, 0)


def _mono_key(m: tuple) -> tuple:
    return (-len(m), [_atom_key(a) for a in m])


def _num(c):
    """Fractions that are whole become ints."""
    return c.numerator if isinstance(c, Fraction) and c.denominator == 1 else c


class Dim:
    """An integer-valued expression over symbols. Immutable, hashable, canonical."""
    __slots__ = ("terms", "_str")

    def __init__(self, terms: dict | None = None):
        self.terms = {m: _num(c) for m, c in (terms or {}).items() if c != 0}
        self._str = None

    @staticmethod
    def of(value: "DimLike | str") -> "Dim":
        if isinstance(value, Dim):
            return value
        if isinstance(value, str):
            return Dim({(value,): 1})
        return Dim({(): int(value)})

    # ---- queries ----
    def is_const(self) -> bool:
        return all(m == () for m in self.terms)

    @property
    def value(self) -> int:
        if not self.is_const():
            raise ValueError(f"{self} is symbolic")
        return int(self.terms.get((), 0))

    def is_atom(self) -> bool:
        return len(self.terms) <= 1 and all(len(m) <= 1 and c == 1 for m, c in self.terms.items())

    def largest(self) -> int:
        """The largest numerator or denominator among the coefficients (a bound on digits)."""
        out = 0
        for c in self.terms.values():
            out = max(out, abs(c) if isinstance(c, int) else max(abs(c.numerator), c.denominator))
        return out

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for m in self.terms:
            for a in m:
                out |= a.num.symbols() if isinstance(a, _FloorDiv) else {a}
        return out

    def fold(self, leaf, const, add, mul, floordiv, exact=None):
        """The expression rebuilt bottom-up in another algebra: `leaf(symbol)`, `const(int)`,
        `add(a, b)`, `mul(a, b)`, `floordiv(a, k)` for an opaque floor division by the int k,
        and `exact(a, k)` (default: floordiv) for a rational coefficient's denominator, which
        divides its term exactly wherever the `where` facts hold. Every lowering that computes
        a size at run time walks it with this (ONNX int64 nodes, Python ints, source text)."""
        exact = exact or floordiv
        total = None
        for m, c in self.terms.items():
            term = None if c == 1 and m else const(c.numerator)     # ints have .numerator too
            for a in m:
                v = leaf(a) if isinstance(a, str) else \
                    floordiv(a.num.fold(leaf, const, add, mul, floordiv, exact), a.den)
                term = v if term is None else mul(term, v)
            if c.denominator != 1:
                term = exact(term, c.denominator)
            total = term if total is None else add(total, term)
        return const(0) if total is None else total

    def evaluate(self, env: dict[str, int]) -> int:
        """The value at `env`; ValueError where an exact division is not (outside the
        declared `where` constraints). Ints throughout, a Fraction only for such a term."""
        def whole(v):
            if isinstance(v, Fraction) and v.denominator != 1:
                raise ValueError(f"{self} is not whole at {env} (outside the declared constraints)")
            return int(v)
        return whole(self.fold(env.__getitem__, int, operator.add, operator.mul,
                               lambda a, k: whole(a) // k, Fraction))

    def subs(self, env: dict[str, int]) -> "Dim":
        """Substitute the symbols that `env` knows; the rest stay symbolic."""
        total = Dim()
        for m, c in self.terms.items():
            prod = Dim({(): c})
            for a in m:
                if isinstance(a, _FloorDiv):
                    prod = prod * (a.num.subs(env) // a.den)
                else:
                    prod = prod * (Dim.of(env[a]) if a in env else Dim.of(a))
            total = total + prod
        return total

    # ---- arithmetic ----
    def __add__(self, other: DimLike) -> "Dim":
        o = Dim.of(other)
        terms = dict(self.terms)
        for m, c in o.terms.items():
            terms[m] = terms.get(m, 0) + c
        return Dim(terms)

    __radd__ = __add__

    def __neg__(self) -> "Dim":
        return Dim({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: DimLike) -> "Dim":
        return self + (-Dim.of(other))

    def __rsub__(self, other: DimLike) -> "Dim":
        return Dim.of(other) - self

    def __mul__(self, other: DimLike) -> "Dim":
        o = Dim.of(other)
        terms: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in o.terms.items():
                m = tuple(sorted(m1 + m2, key=_atom_key))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Dim(terms)

    __rmul__ = __mul__

    def __floordiv__(self, den: DimLike) -> "Dim":
        d = Dim.of(den)
        if not d.is_const():
            raise ValueError("division by a symbolic size")
        k = d.value
        if k == 0:
            raise ZeroDivisionError("division of a size by zero")
        if self.is_const():
            return Dim.of(math.floor(Fraction(self.terms.get((), 0)) / k))
        if k == 1:
            return self
        if len(self.terms) == 1:
            ((m, c),) = self.terms.items()
            if c == 1 and len(m) == 1 and isinstance(m[0], _FloorDiv):
                return m[0].num // (m[0].den * k)        # (x // a) // k == x // (a*k)
        mods = _FACTS.get()
        exact, rest = {}, {}
        for m, c in self.terms.items():
            if m == ():
                continue
            # the term is always a multiple of c * (the known moduli of its symbols)
            step = Fraction(c) * math.prod(mods.get(a, 1) for a in m if isinstance(a, str))
            (exact if (step / k).denominator == 1 else rest)[m] = c
        const = Fraction(self.terms.get((), 0))
        head = Dim({m: Fraction(c) / k for m, c in exact.items()})
        if not rest:
            return head + math.floor(const / k)
        # Keep the remainder's constant in [0, k): one canonical form per value.
        base = math.floor(const / k)
        rest[()] = const - base * k
        return head + base + Dim({(_FloorDiv(Dim(rest), k),): 1})

    def cdiv(self, den: int) -> "Dim":
        """ceil(self / den)."""
        return (self + (den - 1)) // den

    def resimplify(self) -> "Dim":
        """Rebuild the opaque divisions under the facts in force now."""
        total = Dim()
        for m, c in self.terms.items():
            prod = Dim({(): c})
            for a in m:
                prod = prod * (a.num.resimplify() // a.den if isinstance(a, _FloorDiv) else Dim.of(a))
            total = total + prod
        return total

    # ---- identity ----
    def __eq__(self, other) -> bool:
        if isinstance(other, int):
            return self.is_const() and self.value == other
        return isinstance(other, Dim) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted((str(Dim({m: 1})), str(c)) for m, c in self.terms.items())))

    def __str__(self) -> str:
        if self._str is None:        # immutable: the text is computed once
            self._str = self._text()
        return self._str

    def _text(self) -> str:
        if not self.terms:
            return "0"
        parts: list[str] = []
        for m in sorted(self.terms, key=_mono_key):
            c = Fraction(self.terms[m])
            p, q = abs(c.numerator), c.denominator
            bare = len(m) == 1 and p == 1 and q == 1
            body = "*".join(f"({a})" if isinstance(a, _FloorDiv) and not bare else str(a) for a in m)
            if not body:
                text = str(p) if q == 1 else f"{p}/{q}"
            else:
                text = (body if p == 1 else f"{p}*{body}") + (f"/{q}" if q != 1 else "")
            if not parts:
                parts.append(text if c > 0 else f"-{text}")
            else:
                parts.append(f"+ {text}" if c > 0 else f"- {text}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"Dim({self})"

    def to_json(self) -> int | str:
        return self.value if self.is_const() else str(self)


@dataclass(frozen=True)
class Requirement:
    """A condition on one symbol that makes a spec check: `S >= value` (kind "min") or
    `S % value == 0` ("mod"). Diagnostics carry them as data (Diagnostic.requires), for code
    that acts on them (dslc import adds them as `where` constraints); str() is the spec's text."""
    symbol: str
    kind: str
    value: int

    def __str__(self) -> str:
        return f"{self.symbol} >= {self.value}" if self.kind == "min" else \
            f"{self.symbol} % {self.value} == 0"


def condition_for_equal(a: Dim, b: Dim, limit: int = 1024) -> Requirement | None:
    """The weakest `S % m == 0` (one symbol, m a multiple of its known modulus) under which
    `a` and `b` become provably equal, rebuilt from their opaque divisions; None if none."""
    mods = _FACTS.get()
    dens = _denominators(a) * _denominators(b)
    for s in sorted(a.symbols() | b.symbols()):
        base = mods.get(s, 1)
        # only the part of m it shares with the divisions' denominators can make one exact, so
        # the weakest m divides base * dens: the others need not be tried (issue 23: five
        # nested `// 4` tried 511 moduli, 5 s)
        for m in range(base * 2, limit + 1, base):
            if (base * dens) % m:
                continue
            with facts({**mods, s: m}):
                if a.resimplify() == b.resimplify():
                    return Requirement(s, "mod", m)
    return None


def _denominators(d: Dim) -> int:
    """The product of every denominator in `d`: its opaque divisions' (nested ones too) and
    its rational coefficients'."""
    out = 1
    for m, c in d.terms.items():
        out *= Fraction(c).denominator
        for a in m:
            if isinstance(a, _FloorDiv):
                out *= a.den * _denominators(a.num)
    return out


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
