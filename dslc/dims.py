"""Symbolic dimensions: integer polynomials over symbols and opaque floor divisions.

A `Dim` is kept in a canonical form (monomial -> coefficient), so structural equality is value
equality for everything the shape rules build: `H`, `C*H*W`, `(H - 1) // 2 + 1`.
"""
from __future__ import annotations

from functools import total_ordering
from typing import Union

DimLike = Union["Dim", int]


@total_ordering
class _FloorDiv:
    """An opaque atom `num // den` whose numerator did not divide exactly."""
    __slots__ = ("num", "den")

    def __init__(self, num: "Dim", den: int):
        self.num, self.den = num, den

    def key(self):
        return (str(self.num), self.den)

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


class Dim:
    """An integer-valued expression over symbols. Immutable, hashable, canonical."""
    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple, int] | None = None):
        self.terms = {m: c for m, c in (terms or {}).items() if c != 0}

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
        return self.terms.get((), 0)

    def is_atom(self) -> bool:
        return len(self.terms) <= 1 and all(len(m) <= 1 and c == 1 for m, c in self.terms.items())

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for m in self.terms:
            for a in m:
                out |= a.num.symbols() if isinstance(a, _FloorDiv) else {a}
        return out

    def evaluate(self, env: dict[str, int]) -> int:
        total = 0
        for m, c in self.terms.items():
            prod = c
            for a in m:
                prod *= a.num.evaluate(env) // a.den if isinstance(a, _FloorDiv) else env[a]
            total += prod
        return total

    def subs(self, env: dict[str, int]) -> "Dim":
        """Substitute the symbols that `env` knows; the rest stay symbolic."""
        total = Dim()
        for m, c in self.terms.items():
            prod = Dim.of(c)
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
        terms: dict[tuple, int] = {}
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
            return Dim.of(self.value // k)
        if k == 1:
            return self
        if all(c % k == 0 for c in self.terms.values()):
            return Dim({m: c // k for m, c in self.terms.items()})
        # Pull out the part that divides exactly: (k*a + r) // k == a + r // k for integer a.
        exact = {m: (c // k) * k for m, c in self.terms.items() if m != ()}
        if () in self.terms:
            exact[()] = (self.terms[()] // k) * k
        rest = self - Dim(exact)
        head = Dim({m: c // k for m, c in exact.items()})
        if rest.is_const():
            return head + rest.value // k
        return head + Dim({(_FloorDiv(rest, k),): 1})

    def cdiv(self, den: int) -> "Dim":
        """ceil(self / den)."""
        return (self + (den - 1)) // den

    # ---- identity ----
    def __eq__(self, other) -> bool:
        if isinstance(other, int):
            return self.is_const() and self.value == other
        return isinstance(other, Dim) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted((str(Dim({m: 1})), c) for m, c in self.terms.items())))

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        parts: list[str] = []
        for m in sorted(self.terms, key=_mono_key):
            c = self.terms[m]
            body = "*".join(str(a) if not isinstance(a, _FloorDiv) or len(m) == 1 else f"({a})"
                            for a in m)
            mag = abs(c)
            text = body if (mag == 1 and body) else (f"{mag}*{body}" if body else str(mag))
            if not parts:
                parts.append(text if c > 0 else f"-{text}")
            else:
                parts.append(f"+ {text}" if c > 0 else f"- {text}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"Dim({self})"

    def to_json(self) -> int | str:
        return self.value if self.is_const() else str(self)


def as_dim(v: "DimLike | str") -> Dim:
    return Dim.of(v)


def fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
