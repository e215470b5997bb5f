"""Reductions: sum, mean, max, min, prod, var, std, logsumexp, norm over one axis, several
(`axis=(1, 2)`, positionally `sum(1)`) or, without `axis`, every axis (torch's `x.sum()`), with
`keepdim=` (default false); argmax and argmin over one axis or the flattened tensor.

Semantics are torch's: max/min are amax/amin (values only); var/std divide by N - correction
(N the product of the reduced sizes, read at run time when symbolic); logsumexp is computed as
m + log(sum(exp(x - m))) with m the max (infinite m replaced by 0, as torch does), so it is
exact for inputs such as 1000; argmax/argmin give the first index on ties, as i64.

Dtypes: mean, var, std, logsumexp and norm need floats. sum and prod follow torch on integers:
an integer or bool input gives an i64 result (accumulated in i64); a float keeps its dtype.
max and min keep any dtype (bool included); argmax and argmin take any numeric dtype (not
bool, which torch refuses). Axes are normalised (negative ones count from the end); an axis
out of range or given twice is an E205. MACs: reductions count 0 (MACs count contractions)."""
from __future__ import annotations

import math
from typing import ClassVar, Optional, Union

from pydantic import StrictFloat, StrictInt

from ..ir.dims import Dim, fmt_shape
from ..ir.core import INT_DTYPES, TensorType
from .base import Op, ShapeError, axis_index, need_float

Axes = Optional[Union[StrictInt, tuple[StrictInt, ...]]]
Number = Union[StrictInt, StrictFloat]

def reduced_axes(op, x: TensorType, axis) -> tuple[int, ...]:
    """`axis` (an int, a tuple or None: every axis) as sorted non-negative axes of `x`."""
    if axis is None:
        return tuple(range(x.rank))
    given = axis if isinstance(axis, tuple) else (axis,)
    if not given:
        raise ShapeError("E205", f"{op.kind}: `axis=()` names no axis",
                         expected="an axis or a tuple of axes", got="()", culprits=(0,),
                         help=f"leave `axis` out to reduce over every axis: `x -> {op.kind}`")
    seen: dict[int, int] = {}
    for a in given:
        try:
            k = axis_index(a, x.rank, f"{op.kind} of {x}")
        except ShapeError as err:
            err.got, err.culprits = f"axis {a} (rank {x.rank}: {fmt_shape(x.shape)})", (0,)
            err.help = f"{op.kind} reduces existing axes: 0 .. {x.rank - 1}, or -1 for the last"
            raise
        if k in seen:
            same = (f"axis {a} is given twice" if a == seen[k] else
                    f"axes {seen[k]} and {a} both name axis {k} of {x}")
            raise ShapeError("E205", f"{op.kind}: {same}", expected="distinct axes",
                             got=f"axis={tuple(given)}", culprits=(0,), help="name each axis once")
        seen[k] = a
    return tuple(sorted(seen))


def reduced_shape(x: TensorType, axes, keepdim: bool) -> tuple[Dim, ...]:
    if keepdim:
        return tuple(Dim.of(1) if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


def reduced_count(x: TensorType, axes) -> Dim:
    """N: how many elements each output value reduces (a Dim, possibly symbolic)."""
    n = Dim.of(1)
    for a in axes:
        n = n * x.shape[a]
    return n


# ---- ONNX helpers ----


class _Reduce(Op):
    """A reduction over `axis` (an int or a tuple; None: every axis): the reduced axes are
    removed, or kept as size 1 with keepdim=true; the dtype is kept."""
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    onnx_type: ClassVar[str]
    torch_name: ClassVar[str]
    axis: Axes = None
    keepdim: bool = False

    def check(self, x: TensorType) -> None:
        """The dtype rule."""

    def out_dtype(self, x: TensorType) -> str:
        return x.dtype

    def axes(self, x: TensorType) -> tuple[int, ...]:
        return reduced_axes(self, x, self.axis)

    def shape(self, x):
        self.check(x)
        axes = self.axes(x)
        return TensorType(dtype=self.out_dtype(x), shape=reduced_shape(x, axes, self.keepdim))


class _IntegerAccumulating(_Reduce):
    """sum and prod: an integer or bool input gives i64 (torch's rule), a float its dtype."""

    def out_dtype(self, x):
        return "i64" if x.dtype in INT_DTYPES or x.dtype == "bool" else x.dtype


class Sum(_IntegerAccumulating):
    """sum(axis=None, keepdim=false): the sum over `axis` (an int or a tuple; every axis when
    left out); reduced axes removed (size 1 with keepdim). Integer and bool inputs give i64."""
    kind: ClassVar[str] = "sum"
    onnx_type: ClassVar[str] = "ReduceSum"
    torch_name: ClassVar[str] = "sum"


class Prod(_IntegerAccumulating):
    """prod(axis=None, keepdim=false): the product over `axis` (an int or a tuple; every axis
    when left out); reduced axes removed (size 1 with keepdim). Integer and bool inputs give
    i64."""
    kind: ClassVar[str] = "prod"
    onnx_type: ClassVar[str] = "ReduceProd"
    torch_name: ClassVar[str] = "prod"


class Mean(_Reduce):
    """mean(axis=None, keepdim=false): the mean over `axis` (an int or a tuple; every axis when
    left out), dividing by the run-time count on a symbolic axis; reduced axes removed (size 1
    with keepdim). Floating-point inputs only."""
    kind: ClassVar[str] = "mean"
    onnx_type: ClassVar[str] = "ReduceMean"
    torch_name: ClassVar[str] = "mean"
    precise: ClassVar[bool] = True

    def check(self, x):
        need_float(x, self.kind)


class Max(_Reduce):
    """max(axis=None, keepdim=false): the largest value over `axis` (an int or a tuple; every
    axis when left out), torch's amax (values only; argmax gives indices); reduced axes
    removed (size 1 with keepdim); any dtype, kept."""
    kind: ClassVar[str] = "max"
    onnx_type: ClassVar[str] = "ReduceMax"
    torch_name: ClassVar[str] = "amax"


class Min(_Reduce):
    """min(axis=None, keepdim=false): the smallest value over `axis` (an int or a tuple; every
    axis when left out), torch's amin (values only; argmin gives indices); reduced axes
    removed (size 1 with keepdim); any dtype, kept."""
    kind: ClassVar[str] = "min"
    onnx_type: ClassVar[str] = "ReduceMin"
    torch_name: ClassVar[str] = "amin"


class Var(_Reduce):
    """var(axis=None, correction=1, keepdim=false): sum((x - mean)^2) / (N - correction) over
    `axis` (an int or a tuple; every axis when left out), N the product of the reduced sizes
    (read at run time when symbolic); reduced axes removed (size 1 with keepdim). Floats only;
    a known N <= correction is an E303 (torch would give inf or nan)."""
    kind: ClassVar[str] = "var"
    precise: ClassVar[bool] = True
    correction: Number = 1

    def check(self, x):
        need_float(x, self.kind)
        if self.correction < 0:
            raise ShapeError("E205", f"{self.kind}: correction must be >= 0, got {self.correction}",
                             expected="correction >= 0", got=str(self.correction))

    def shape(self, x):
        out = super().shape(x)
        n = reduced_count(x, self.axes(x))
        if n.is_const() and n.value <= self.correction:
            raise ShapeError("E303", f"{self.kind} over {n.value} element(s) with correction="
                             f"{self.correction} divides by {n.value - self.correction}",
                             expected=f"more than {self.correction} reduced element(s)",
                             got=f"{n.value} in {fmt_shape(x.shape)}", culprits=(0,),
                             help="reduce over more elements, or use correction=0 (the "
                                  "population variance)")
        return out


class Std(Var):
    """std(axis=None, correction=1, keepdim=false): sqrt(var) with var's rule (N - correction
    in the denominator, N the product of the reduced sizes); reduced axes removed (size 1 with
    keepdim). Floats only."""
    kind: ClassVar[str] = "std"


class LogSumExp(_Reduce):
    """logsumexp(axis=None, keepdim=false): log(sum(exp(x))) over `axis` (an int or a tuple;
    every axis when left out), computed stably as m + log(sum(exp(x - m))) with m the max
    (0 where m is infinite, as torch); reduced axes removed (size 1 with keepdim). Floats only."""
    kind: ClassVar[str] = "logsumexp"
    torch_name: ClassVar[str] = "logsumexp"
    precise: ClassVar[bool] = True

    def check(self, x):
        need_float(x, self.kind)


class Norm(_Reduce):
    """norm(p=2, axis=None, keepdim=false): the vector p-norm (sum |x|^p)^(1/p) over `axis`
    (an int or a tuple; every axis when left out), as torch.linalg.vector_norm; p any
    positive number, or `inf` (max |x|); reduced axes removed (size 1 with keepdim). Floats
    only."""
    kind: ClassVar[str] = "norm"
    positional: ClassVar[tuple[str, ...]] = ("p", "axis")
    precise: ClassVar[bool] = True
    p: Union[Number, str] = 2

    @property
    def order(self) -> float:
        return math.inf if self.p == "inf" else float(self.p)

    def check(self, x):
        need_float(x, self.kind)
        if isinstance(self.p, str) and self.p != "inf" or not self.order > 0:
            raise ShapeError("E205", f"norm: p must be a positive number or inf, got {self.p}",
                             expected="p > 0 (1, 2, 3.5, inf)", got=str(self.p),
                             help="norm(1) is the sum of |x|, norm(2) the Euclidean norm, "
                                  "norm(p=inf) the largest |x|")


class _ArgReduce(Op):
    """argmax/argmin over one axis, or over the flattened tensor when `axis` is left out."""
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    onnx_type: ClassVar[str]
    axis: Optional[StrictInt] = None
    keepdim: bool = False

    def axes(self, x: TensorType) -> tuple[int, ...]:
        return reduced_axes(self, x, self.axis)

    def shape(self, x):
        if x.dtype == "bool":
            raise ShapeError("E306", f"{self.kind} takes a numeric tensor, got the bool tensor {x}",
                             expected="a numeric tensor", got=str(x), culprits=(0,),
                             help=f"convert it first: `m -> cast(i64) -> {self.kind}`")
        axes = self.axes(x)
        return TensorType(dtype="i64", shape=reduced_shape(x, axes, self.keepdim))


class ArgMax(_ArgReduce):
    """argmax(axis=None, keepdim=false): i64 index of the largest value along `axis` (the first
    on ties), that axis removed (size 1 with keepdim); without `axis`, the index into the
    flattened tensor (rank 0, or all sizes 1 with keepdim). Numeric inputs, not bool."""
    kind: ClassVar[str] = "argmax"
    onnx_type: ClassVar[str] = "ArgMax"


class ArgMin(_ArgReduce):
    """argmin(axis=None, keepdim=false): i64 index of the smallest value along `axis` (the
    first on ties), that axis removed (size 1 with keepdim); without `axis`, the index into the
    flattened tensor (rank 0, or all sizes 1 with keepdim). Numeric inputs, not bool."""
    kind: ClassVar[str] = "argmin"
    onnx_type: ClassVar[str] = "ArgMin"


OPS = (Sum, Mean, Max, Min, Prod, Var, Std, LogSumExp, ArgMax, ArgMin, Norm)
