"""Elementwise functions of one tensor: exp, log, log1p, sqrt, rsqrt, abs, square, clamp, sin,
cos, erf, sign, floor, round, reciprocal, softsign, logsigmoid, mish, hardswish, hardsigmoid,
and the dtype conversion `cast`.

Shape rule for all: the output has the input's shape; its dtype is the input's (cast: the
dtype asked for). Most are floating-point only (an E306 on an integer or bool tensor, whose
help names the `cast`); abs, square, sign and clamp also take integer tensors; none takes bool
except cast. Semantics are torch's, in both backends. MACs: 0 (elementwise)."""
from __future__ import annotations

from typing import ClassVar, Optional, Union

from pydantic import StrictFloat, StrictInt

from ..diagnostics import did_you_mean
from ..ir.core import DTYPES, FLOAT_DTYPES
from .base import Op, ShapeError, need_float

Number = Union[StrictInt, StrictFloat]

# The ranges of the integer dtypes (a clamp bound must be representable).
_INT_RANGES = {"i8": (-2 ** 7, 2 ** 7 - 1), "u8": (0, 2 ** 8 - 1), "i32": (-2 ** 31, 2 ** 31 - 1),
               "i64": (-2 ** 63, 2 ** 63 - 1)}


def _numeric(x, what: str) -> None:
    if x.dtype not in FLOAT_DTYPES and x.dtype not in _INT_RANGES:
        raise ShapeError("E306", f"{what} expects a numeric (floating-point or integer) tensor, "
                         f"got the {x.dtype} tensor {x}",
                         expected="f16, bf16, f32, f64, i8, i32, i64 or u8", got=x.dtype,
                         culprits=(0,), help="convert it first: `m -> cast(f32)` or "
                                             "`m -> cast(i64)`")


class _Function(Op):
    """An elementwise function of one tensor: same shape and dtype as the input. One torch
    function (a dotted name under `torch`) and, by default, one ONNX op. onnxruntime's CPU
    provider lacks f64 kernels for some of those ops: on `formula_dtypes` the subclass's
    `formula` emits the same function from basic ops, as torch's own kernel computes it."""
    torch_fn: ClassVar[str]
    onnx_type: ClassVar[str]
    integers: ClassVar[bool] = False      # integer tensors are accepted too
    formula_dtypes: ClassVar[tuple[str, ...]] = ()

    def shape(self, x):
        (_numeric if self.integers else need_float)(x, self.kind)
        return x


class Exp(_Function):
    """exp: e ** x, elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "exp"
    torch_fn: ClassVar[str] = "exp"
    onnx_type: ClassVar[str] = "Exp"


class Log(_Function):
    """log: the natural logarithm, elementwise (-inf at 0, NaN below); same shape and dtype
    (floating-point)."""
    kind: ClassVar[str] = "log"
    torch_fn: ClassVar[str] = "log"
    onnx_type: ClassVar[str] = "Log"


class Log1p(_Function):
    """log1p: log(1 + x), accurate for small |x|; same shape and dtype (floating-point).

    ONNX has no Log1p: the graph uses Kahan's correction, w = 1 + x rounded, then
    log1p(x) = x where w - 1 == 0, else x * (log(w) / (w - 1)), which keeps full relative
    precision near 0 (plain log(1 + x) returns 0 for |x| below the dtype's epsilon);
    x = +inf gives +inf, -1 gives -inf, below -1 NaN."""
    kind: ClassVar[str] = "log1p"
    torch_fn: ClassVar[str] = "log1p"


class Sqrt(_Function):
    """sqrt: the square root, elementwise (NaN below 0); same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "sqrt"
    torch_fn: ClassVar[str] = "sqrt"
    onnx_type: ClassVar[str] = "Sqrt"


class Rsqrt(_Function):
    """rsqrt: 1 / sqrt(x), elementwise (inf at 0); same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "rsqrt"
    torch_fn: ClassVar[str] = "rsqrt"


class Abs(_Function):
    """abs: |x|, elementwise; same shape and dtype (floating-point or integer)."""
    kind: ClassVar[str] = "abs"
    torch_fn: ClassVar[str] = "abs"
    onnx_type: ClassVar[str] = "Abs"
    integers: ClassVar[bool] = True


class Square(_Function):
    """square: x * x, elementwise; same shape and dtype (floating-point or integer; integers
    wrap around on overflow, as in torch)."""
    kind: ClassVar[str] = "square"
    torch_fn: ClassVar[str] = "square"
    integers: ClassVar[bool] = True


class Sin(_Function):
    """sin (radians), elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "sin"
    torch_fn: ClassVar[str] = "sin"
    onnx_type: ClassVar[str] = "Sin"


class Cos(_Function):
    """cos (radians), elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "cos"
    torch_fn: ClassVar[str] = "cos"
    onnx_type: ClassVar[str] = "Cos"


class Erf(_Function):
    """erf: the Gauss error function, elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "erf"
    torch_fn: ClassVar[str] = "erf"
    onnx_type: ClassVar[str] = "Erf"


class Sign(_Function):
    """sign: -1, 0 or 1 (sign of 0 is 0), elementwise; same shape and dtype (floating-point or
    integer)."""
    kind: ClassVar[str] = "sign"
    torch_fn: ClassVar[str] = "sign"
    onnx_type: ClassVar[str] = "Sign"
    integers: ClassVar[bool] = True


class Floor(_Function):
    """floor: the largest integer <= x, elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "floor"
    torch_fn: ClassVar[str] = "floor"
    onnx_type: ClassVar[str] = "Floor"


class Round(_Function):
    """round: to the nearest integer, halves to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0),
    elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "round"
    torch_fn: ClassVar[str] = "round"
    onnx_type: ClassVar[str] = "Round"


class Reciprocal(_Function):
    """reciprocal: 1 / x, elementwise (inf at 0); same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "reciprocal"
    torch_fn: ClassVar[str] = "reciprocal"
    onnx_type: ClassVar[str] = "Reciprocal"


class Softsign(_Function):
    """softsign: x / (1 + |x|), elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "softsign"
    torch_fn: ClassVar[str] = "nn.functional.softsign"
    onnx_type: ClassVar[str] = "Softsign"
    formula_dtypes: ClassVar[tuple[str, ...]] = ("f64",)


class LogSigmoid(_Function):
    """logsigmoid: log(sigmoid(x)) = -softplus(-x), computed as min(x, 0) - log1p(exp(-|x|)) so
    that neither large positive nor large negative x overflows; same shape and dtype
    (floating-point)."""
    kind: ClassVar[str] = "logsigmoid"
    torch_fn: ClassVar[str] = "nn.functional.logsigmoid"


class Mish(_Function):
    """mish: x * tanh(softplus(x)), elementwise; same shape and dtype (floating-point)."""
    kind: ClassVar[str] = "mish"
    torch_fn: ClassVar[str] = "nn.functional.mish"
    onnx_type: ClassVar[str] = "Mish"
    formula_dtypes: ClassVar[tuple[str, ...]] = ("f64",)


class Hardswish(_Function):
    """hardswish: x * relu6(x + 3) / 6 (0 below -3, x above 3), elementwise; same shape and
    dtype (floating-point)."""
    kind: ClassVar[str] = "hardswish"
    torch_fn: ClassVar[str] = "nn.functional.hardswish"
    onnx_type: ClassVar[str] = "HardSwish"
    formula_dtypes: ClassVar[tuple[str, ...]] = ("f64",)


class Hardsigmoid(_Function):
    """hardsigmoid: relu6(x + 3) / 6 (0 below -3, 1 above 3), elementwise; same shape and dtype
    (floating-point). ONNX HardSigmoid with alpha=1/6, beta=0.5 (its default alpha is 0.2)."""
    kind: ClassVar[str] = "hardsigmoid"
    torch_fn: ClassVar[str] = "nn.functional.hardsigmoid"
    onnx_type: ClassVar[str] = "HardSigmoid"
    formula_dtypes: ClassVar[tuple[str, ...]] = ("f64",)


class Clamp(_Function):
    """clamp(min=, max=): min(max(x, min), max), either bound optional but at least one given,
    min <= max; same shape and dtype (floating-point or integer; on an integer tensor the
    bounds must be integers that the dtype holds)."""
    kind: ClassVar[str] = "clamp"
    positional: ClassVar[tuple[str, ...]] = ("min", "max")
    integers: ClassVar[bool] = True
    min: Optional[Number] = None
    max: Optional[Number] = None

    def shape(self, x):
        if self.min is None and self.max is None:
            raise ShapeError("E205", "clamp needs a bound: neither `min` nor `max` was given",
                             expected="min=, max= or both", got="no bound",
                             culprits=(),
                             help="e.g. `clamp(min=0)`, `clamp(max=6)` or `clamp(-1, 1)`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ShapeError("E205", f"clamp needs min <= max, got min={self.min} and "
                             f"max={self.max}", expected=f"max >= {self.min}", got=str(self.max),
                             culprits=(), help="swap the bounds")
        super().shape(x)
        if x.dtype in _INT_RANGES:
            lo, hi = _INT_RANGES[x.dtype]
            for name, v in (("min", self.min), ("max", self.max)):
                if isinstance(v, float):
                    raise ShapeError("E306", f"clamp({name}={v}) on the {x.dtype} tensor {x}: "
                                     "the bounds of an integer tensor must be integers",
                                     expected="an integer bound", got=str(v), culprits=(0,),
                                     help=f"write an integer bound, or convert the tensor "
                                          f"first: `x -> cast(f32) -> clamp({name}={v})`")
                if v is not None and not lo <= v <= hi:
                    raise ShapeError("E205", f"clamp({name}={v}) does not fit the {x.dtype} "
                                     f"tensor {x}", expected=f"an integer in [{lo}, {hi}]",
                                     got=str(v), culprits=(0,))
        return x

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        if self.min is not None and self.max is not None:
            return f"clamp({self.min}, {self.max})"
        return f"clamp(min={self.min})" if self.min is not None else f"clamp(max={self.max})"


class Cast(Op):
    """cast(dtype): the same values in another dtype (f16, f32, f64, bf16, i8, i32, i64, u8,
    bool), same shape; any input dtype. Floats to integers truncate toward zero (out-of-range
    values and NaN are undefined, as in C); anything to bool is x != 0; bool to numbers is 0/1;
    between floats, round to nearest even."""
    kind: ClassVar[str] = "cast"
    positional: ClassVar[tuple[str, ...]] = ("dtype",)
    dtype: str

    def shape(self, x):
        if self.dtype not in DTYPES:
            raise ShapeError("E205", f"cast: unknown dtype `{self.dtype}`",
                             expected=", ".join(DTYPES), got=self.dtype, culprits=(),
                             help=did_you_mean(self.dtype, DTYPES))
        return x.model_copy(update={"dtype": self.dtype})


OPS = (Exp, Log, Log1p, Sqrt, Rsqrt, Abs, Square, Clamp, Sin, Cos, Erf, Sign, Floor, Round,
       Reciprocal, Softsign, LogSigmoid, Mish, Hardswish, Hardsigmoid, Cast)
