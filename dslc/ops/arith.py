"""Tensor arithmetic: `+ - * / **` and unary `-`, comparisons, logic and `where`, elementwise
with numpy broadcasting. A number on either side is an attribute (`0.5 * logvar` is
mul(scalar=0.5), `1 - z` is sub(scalar=1, reverse=true)), so node inputs are always tensors.

Dtypes: no implicit promotion. Two tensors must share a dtype; a bool tensor takes no
arithmetic; an integer tensor takes integer numbers only and no `/` (true division): each is an
E306 whose help names the `cast`. MACs: elementwise ops count 0 (MACs count contractions)."""
from __future__ import annotations

import operator
from typing import ClassVar, Optional, Union

from pydantic import StrictFloat, StrictInt

from ..ir.core import FLOAT_DTYPES
from .base import Op, ShapeError, broadcast

Number = Union[StrictInt, StrictFloat]


def _numeric(x, what: str, index: int = 0) -> None:
    if x.dtype == "bool":
        raise ShapeError("E306", f"`{what}` does arithmetic, not logic: got a bool tensor {x}",
                         expected="a numeric tensor", got=str(x), culprits=(index,),
                         help="convert it first: `m -> cast(f32)`")


def _scalar_fits(x, value, what: str) -> None:
    if isinstance(value, float) and x.dtype not in FLOAT_DTYPES:
        raise ShapeError("E306", f"`{what}` on the {x.dtype} tensor {x}: dslc does not promote "
                         "integers to floats", expected="an integer number",
                         got=str(value), culprits=(0,),
                         help="convert the tensor first: `x -> cast(f32)`, or write an integer")


class _Elementwise2(Op):
    """Shared by the binary ops: two tensors, or one tensor and a number (`scalar`)."""
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    positional: ClassVar[tuple[str, ...]] = ("scalar",)
    symbol: ClassVar[str]
    onnx_type: ClassVar[str]
    scalar: Optional[Number] = None
    reverse: bool = False              # the number is on the left: `1 - z`

    def operands(self, *xs):
        """The input types, checked for count; a number stands for the missing one."""
        if len(xs) == 2 and self.scalar is not None:
            raise ShapeError("E208", f"{self.kind} takes two tensors or a tensor and a number, "
                             "not both")
        if len(xs) == 1 and self.scalar is None:
            raise ShapeError("E208", f"{self.kind} needs a second tensor or a number",
                             expected="2 tensors, or 1 and a number", got="1 tensor",
                             help=f"e.g. `a {self.symbol} b` or `x -> {self.kind}(2)`")
        return xs

    def check(self, x, what: str, index: int) -> None:
        """The dtype rule of one tensor operand."""

    def shape(self, *xs):
        xs = self.operands(*xs)
        for i, x in enumerate(xs):
            self.check(x, self.symbol, i)
        if len(xs) == 1:
            _scalar_fits(xs[0], self.scalar, self.describe())
            return self.result(xs[0])
        return self.result(broadcast(xs[0], xs[1], f"`{self.symbol}`"))

    def result(self, t):
        return t

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        if self.scalar is None:
            return self.kind
        return f"{self.scalar} {self.symbol} x" if self.reverse else f"x {self.symbol} {self.scalar}"


class _Arith(_Elementwise2):
    def check(self, x, what, index):
        _numeric(x, what, index)


class Add(_Arith):
    """add(a, b) or `a + b`; `x + 1`: elementwise with broadcasting."""
    kind: ClassVar[str] = "add"
    symbol: ClassVar[str] = "+"
    onnx_type: ClassVar[str] = "Add"


class Sub(_Arith):
    """sub(a, b) or `a - b`; `1 - z`: elementwise with broadcasting."""
    kind: ClassVar[str] = "sub"
    symbol: ClassVar[str] = "-"
    onnx_type: ClassVar[str] = "Sub"


class Mul(_Arith):
    """mul(a, b) or `a * b`; `0.5 * x`: elementwise with broadcasting."""
    kind: ClassVar[str] = "mul"
    symbol: ClassVar[str] = "*"
    onnx_type: ClassVar[str] = "Mul"


class Div(_Arith):
    """div(a, b) or `a / b`; `x / 2`: true division, elementwise with broadcasting; floating
    tensors only."""
    kind: ClassVar[str] = "div"
    symbol: ClassVar[str] = "/"
    onnx_type: ClassVar[str] = "Div"

    def check(self, x, what, index):
        super().check(x, what, index)
        if x.dtype not in FLOAT_DTYPES:
            raise ShapeError("E306", f"`/` is true division: the {x.dtype} tensor {x} would "
                             "become a float", expected="a floating-point tensor", got=str(x),
                             culprits=(index,), help="convert it first: `x -> cast(f32)`")


class Pow(_Arith):
    """pow(a, b), `a ** b`, `x ** 2`, `x -> pow(3)`: elementwise power with broadcasting."""
    kind: ClassVar[str] = "pow"
    symbol: ClassVar[str] = "**"
    onnx_type: ClassVar[str] = "Pow"


class _Direct(Op):
    """One torch operator (`_TORCH[kind]`) and one ONNX op on the node's tensors."""
    onnx_type: ClassVar[str]


class Neg(_Direct):
    """neg(x) or `-x`: elementwise negation; same shape and dtype (not bool)."""
    kind: ClassVar[str] = "neg"
    onnx_type: ClassVar[str] = "Neg"

    def shape(self, x):
        _numeric(x, "-", 0)
        return x


class _Compare(_Elementwise2):
    """A comparison: bool result, broadcast shape."""
    def check(self, x, what, index):
        if x.dtype == "bool" and self.kind not in ("eq", "ne"):
            _numeric(x, what, index)

    def result(self, t):
        return t.model_copy(update={"dtype": "bool"})


class Eq(_Compare):
    """eq(a, b) or `a == b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "eq"
    symbol: ClassVar[str] = "=="
    onnx_type: ClassVar[str] = "Equal"


class Ne(_Compare):
    """ne(a, b) or `a != b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "ne"
    symbol: ClassVar[str] = "!="
    onnx_type: ClassVar[str] = "Equal"


class Lt(_Compare):
    """lt(a, b) or `a < b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "lt"
    symbol: ClassVar[str] = "<"
    onnx_type: ClassVar[str] = "Less"


class Le(_Compare):
    """le(a, b) or `a <= b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "le"
    symbol: ClassVar[str] = "<="
    onnx_type: ClassVar[str] = "LessOrEqual"


class Gt(_Compare):
    """gt(a, b) or `a > b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "gt"
    symbol: ClassVar[str] = ">"
    onnx_type: ClassVar[str] = "Greater"


class Ge(_Compare):
    """ge(a, b) or `a >= b`: bool, elementwise with broadcasting."""
    kind: ClassVar[str] = "ge"
    symbol: ClassVar[str] = ">="
    onnx_type: ClassVar[str] = "GreaterOrEqual"


def _need_bool(x, what: str, index: int) -> None:
    if x.dtype != "bool":
        raise ShapeError("E306", f"`{what}` needs bool tensors, got {x}", expected="bool",
                         got=str(x), culprits=(index,), help="compare first: `x > 0`")


class _Logic(_Direct):
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    symbol: ClassVar[str]

    def shape(self, a, b):
        _need_bool(a, self.symbol, 0)
        _need_bool(b, self.symbol, 1)
        return broadcast(a, b, f"`{self.symbol}`")


class LogicalAnd(_Logic):
    """logical_and(a, b) or `a and b` on bool tensors, with broadcasting."""
    kind: ClassVar[str] = "logical_and"
    symbol: ClassVar[str] = "and"
    onnx_type: ClassVar[str] = "And"


class LogicalOr(_Logic):
    """logical_or(a, b) or `a or b` on bool tensors, with broadcasting."""
    kind: ClassVar[str] = "logical_or"
    symbol: ClassVar[str] = "or"
    onnx_type: ClassVar[str] = "Or"


class LogicalNot(_Direct):
    """logical_not(m) or `not m` on a bool tensor."""
    kind: ClassVar[str] = "logical_not"
    onnx_type: ClassVar[str] = "Not"

    def shape(self, x):
        _need_bool(x, "not", 0)
        return x


class Where(Op):
    """where(cond, a, b): a where cond is true, else b; cond bool, a and b one dtype, all three
    broadcast together. `where(cond, a, 0.0)`: a number in place of b (`other`)."""
    kind: ClassVar[str] = "where"
    arity: ClassVar[tuple[int, int | None]] = (2, 3)
    positional: ClassVar[tuple[str, ...]] = ("other",)
    other: Optional[Number] = None

    def shape(self, cond, a, b=None):
        _need_bool(cond, "where", 0)
        if (b is None) == (self.other is None):
            raise ShapeError("E208", "where takes (cond, a, b) or (cond, a) and a number",
                             expected="3 tensors, or 2 and a number",
                             got=f"{2 if b is None else 3} tensors" + (" and a number" if self.other is not None else ""))
        if b is None:
            _scalar_fits(a, self.other, f"where(cond, x, {self.other})")
            out = a
        else:
            out = broadcast(a, b, "where")
        return out.with_shape(broadcast(cond.model_copy(update={"dtype": out.dtype}), out, "where").shape)


_TORCH = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
          "pow": operator.pow, "neg": operator.neg, "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
          "le": operator.le, "gt": operator.gt, "ge": operator.ge, "logical_and": operator.and_,
          "logical_or": operator.or_, "logical_not": operator.invert}

OPS = (Add, Sub, Mul, Div, Pow, Neg, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalNot,
       Where)
