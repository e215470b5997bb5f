"""Values the elaborator computes with: tensors, partially applied layers, repeats, inits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..diagnostics import Span
from ..ir.core import InitVal, TensorType


class _Poison:
    """The value of something that already failed: it silences everything downstream."""

    def __repr__(self) -> str:
        return "<poison>"


POISON = _Poison()


class Fail(Exception):
    """A diagnostic already recorded; unwind to the statement."""


class Abort(Exception):
    """A limit passed (E307: blocks too deep, too many layers), already recorded: unwind the
    whole model. Its other statements would pass it again: a block whose body recurses twice
    did 2**50 calls when each statement went on after the error."""


class Quotient(float):
    """`a / b` of two ints that do not divide (`1 / 64`): a float where a float is wanted,
    remembering the division so that where an int is required the error points at it and
    offers `//`. Arithmetic on it keeps the origin; copied or pickled, it is a plain float."""

    def __new__(cls, value: float, span: Span, num: int, den: int):
        q = super().__new__(cls, value)
        q.span, q.num, q.den = span, num, den
        return q

    def __reduce__(self):
        return (float, (float(self),))

    def like(self, value):
        """`value` (a result computed from this quotient) keeping the origin when a float."""
        if isinstance(value, float) and not isinstance(value, Quotient):
            return Quotient(value, self.span, self.num, self.den)
        return value


def plain(v):
    """Language values as ops and initialisers keep them: quotients are plain floats."""
    if isinstance(v, Quotient):
        return float(v)
    if isinstance(v, (list, tuple)):
        return type(v)(plain(x) for x in v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def norm(v):
    """Sizes that are known numbers are plain ints."""
    from ..ir.dims import Dim
    if isinstance(v, Dim) and v.is_const():
        return v.value
    return v


@dataclass(frozen=True)
class TensorVal:
    value: str            # value name in the graph
    type: TensorType
    origin: Span | None   # where it was produced (for notes)


@dataclass(frozen=True)
class LayerVal:
    """An op or block with (some) hyperparameters: applying it to tensors makes nodes."""
    name: str
    target: Any           # an Op subclass or an ast.BlockDef
    args: tuple = ()      # positional hyperparameters (value, span)
    kwargs: tuple = ()    # ((key, value, span), ...)
    span: Span | None = None


@dataclass(frozen=True)
class RepeatVal:
    layer: LayerVal
    times: int
    span: Span | None = None


def kind_of(v: Any) -> str:
    if isinstance(v, TensorVal):
        return f"a tensor {v.type}"
    if isinstance(v, (LayerVal, RepeatVal)):
        return "a layer"
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, int):
        return "an int"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, tuple):
        return "a tuple"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a record"
    if isinstance(v, InitVal):
        return "an initialiser"
    return type(v).__name__


def show(v: Any) -> str:
    """A value as the spec would spell it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, TensorVal):
        return str(v.type)
    if isinstance(v, (LayerVal, RepeatVal)):
        return f"the layer `{v.name if isinstance(v, LayerVal) else v.layer.name}`"
    if isinstance(v, tuple):
        return "(" + ", ".join(show(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return str(v)
