"""Indexing ops: gather, index_select, slice, topk, one_hot, cumsum. No parameters; MACs 0
(data movement), cumsum included (a running sum, not a contraction).

Index tensors are integer (i8, i32, i64 or u8; the lowerings widen them to i64 where a
backend needs it). Index values must lie in [0, size): torch raises on anything else, while
ONNX Gather/GatherElements read a negative index from the end."""
from __future__ import annotations

from typing import ClassVar, Literal, Union

from ..ir.dims import Dim, fmt_shape
from ..ir.core import DTYPES, INT_DTYPES
from .base import Op, ShapeError, axis_index

Size = Union[int, Dim]
DType = Literal[DTYPES]    # type: ignore[valid-type]


def _need_int(x, what: str, index: int) -> None:
    if x.dtype not in INT_DTYPES:
        raise ShapeError("E306", f"{what} needs an integer tensor, got {x}",
                         expected="an integer tensor (i64, i32, i8 or u8)", got=str(x),
                         culprits=(index,),
                         help="indices are integers: `i -> cast(i64)` if they were computed "
                              "in floating point")


def _need_rank1(x, what: str) -> None:
    if x.rank < 1:
        raise ShapeError("E301", f"{what} needs a tensor of rank >= 1, got {x}",
                         expected="rank >= 1", got=f"rank-0 {fmt_shape(x.shape)}", culprits=(0,))


def runtime_plan(d: Dim, size: Dim) -> tuple:
    """How a lowering obtains the value of `d` (a bound on an axis of size `size` of input 0)
    at run time: ("const", v); ("rel", c) for size + c (read from the input's own shape); or
    ("dims", d), computed from the model inputs' sizes (`Op.runtime_sizes`)."""
    d = Dim.of(d)
    if d.is_const():
        return ("const", d.value)
    if (d - size).is_const():
        return ("rel", (d - size).value)
    return ("dims", d)


def _computed(*plans) -> tuple[Dim, ...]:
    return tuple(v for kind, v in plans if kind == "dims")


class Gather(Op):
    """gather(x, index, axis): torch.gather, out[i][j] = x[index[i][j]][j] for axis 0 (and
    so on): index is an integer tensor of x's rank whose sizes fit x's off `axis` (equal, or
    known and not larger); the output has index's shape and x's dtype."""
    kind: ClassVar[str] = "gather"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    axis: int

    def shape(self, x, index):
        _need_rank1(x, "gather")
        _need_int(index, "gather's index", 1)
        ax = axis_index(self.axis, x.rank, "gather")
        if index.rank != x.rank:
            raise ShapeError("E301", f"gather: the index {fmt_shape(index.shape)} must have the "
                             f"rank of x {fmt_shape(x.shape)}", expected=f"a rank-{x.rank} index",
                             got=f"rank-{index.rank} {fmt_shape(index.shape)}", culprits=(0, 1),
                             help="index_select takes a 1-D index")
        for d, (p, q) in enumerate(zip(x.shape, index.shape)):
            if d == ax or p == q or (p.is_const() and q.is_const() and q.value <= p.value):
                continue
            both = p.is_const() and q.is_const()
            raise ShapeError("E303" if both else "E302",
                             f"gather along axis {ax}: the index {fmt_shape(index.shape)} has size "
                             f"{q} at axis {d}, where x {fmt_shape(x.shape)} has {p}",
                             expected=f"at most {p}" if both else str(p), got=str(q),
                             culprits=(0, 1))
        return x.with_shape(index.shape)


class IndexSelect(Op):
    """index_select(x, index, axis): torch.index_select; index is a 1-D integer tensor [K]:
    x's `axis` becomes K, the entries taken in index order (repeats allowed)."""
    kind: ClassVar[str] = "index_select"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    axis: int

    def shape(self, x, index):
        _need_rank1(x, "index_select")
        _need_int(index, "index_select's index", 1)
        ax = axis_index(self.axis, x.rank, "index_select")
        if index.rank != 1:
            raise ShapeError("E301", f"index_select takes a 1-D index, got {index}",
                             expected="a rank-1 index [K]",
                             got=f"rank-{index.rank} {fmt_shape(index.shape)}", culprits=(1,),
                             help="gather takes an index of x's rank")
        return x.with_shape(x.shape[:ax] + (index.shape[0],) + x.shape[ax + 1:])


class Slice(Op):
    """slice(start, end, axis=, step=1): x[..., start:end:step, ...] on `axis`. Bounds are
    ints or sizes (`slice(1, T, axis=1)`, `slice(0, T - 1, axis=1)`); a negative number counts
    from the end, and bounds are clamped to [0, size] as in Python where that is decidable
    (known sizes, or a bound `size + c`); another bound on a symbolic axis is taken to lie
    within it (declare `where T >= 3` for `slice(0, 3, axis=1)`). step >= 1. The axis becomes
    ceil((end - start) / step); an empty result is an E303."""
    kind: ClassVar[str] = "slice"
    positional: ClassVar[tuple[str, ...]] = ("start", "end", "axis", "step")
    start: Size
    end: Size
    axis: int
    step: int = 1

    def bounds(self, size: Dim) -> tuple[Dim, Dim]:
        """start and end normalised into [0, size] (Python's rules)."""
        def norm(v) -> Dim:
            v = Dim.of(v)
            if v.is_const() and size.is_const():
                n = v.value + size.value if v.value < 0 else v.value
                return Dim.of(min(max(n, 0), size.value))
            if v.is_const():
                return size + v.value if v.value < 0 else v
            over = v - size
            if over.is_const():
                return size + min(over.value, 0)
            return v
        return norm(self.start), norm(self.end)

    def shape(self, x):
        _need_rank1(x, "slice")
        ax = axis_index(self.axis, x.rank, "slice")
        if self.step < 1:
            raise ShapeError("E205", f"slice: step must be >= 1 (torch tensors take no "
                             f"negative steps), got {self.step}", expected="step >= 1",
                             got=str(self.step))
        size = x.shape[ax]
        lo, hi = self.bounds(size)
        diff = hi - lo
        n = Dim.of(max(0, -(-diff.value // self.step))) if diff.is_const() else diff.cdiv(self.step)
        if n.is_const() and n.value < 1:
            raise ShapeError("E303", f"slice [{self.start}:{self.end}:{self.step}] of axis {ax} "
                             f"(size {size}) of {fmt_shape(x.shape)} is empty",
                             expected="at least one element", got=f"[{lo}:{hi}] selects none",
                             culprits=(0,),
                             help="start must come before end; negative bounds count from the "
                                  "end of the axis")
        return x.with_shape(x.shape[:ax] + (n,) + x.shape[ax + 1:])

    def plan(self, xs) -> tuple[int, tuple, tuple]:
        """(axis, start, end) for the lowerings; bounds as runtime_plan entries."""
        t = xs[0]
        ax = axis_index(self.axis, t.rank, "slice")
        lo, hi = self.bounds(t.shape[ax])
        return ax, runtime_plan(lo, t.shape[ax]), runtime_plan(hi, t.shape[ax])

    def runtime_sizes(self, xs, ys):
        return _computed(*self.plan(xs)[1:])

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        step = f", step={self.step}" if self.step != 1 else ""
        return f"slice({self.start}, {self.end}, axis={self.axis}{step})"


class TopK(Op):
    """topk(k, axis=-1, largest=true, sorted=true): two outputs, the k largest (smallest with
    largest=false) values along `axis` and their i64 indices: [.., L, ..] -> [.., k, ..] twice.
    1 <= k <= L (E303 when both are known and k is larger). Both lowerings return sorted
    order even for sorted=false (an unspecified order); ties may be indexed differently by
    the two backends."""
    kind: ClassVar[str] = "topk"
    positional: ClassVar[tuple[str, ...]] = ("k", "axis")
    k: Size
    axis: int = -1
    largest: bool = True
    sorted: bool = True

    def shape(self, x):
        _need_rank1(x, "topk")
        if x.dtype == "bool":
            raise ShapeError("E306", f"topk orders numbers, got {x}", expected="a numeric tensor",
                             got=str(x), culprits=(0,), help="convert it first: `m -> cast(f32)`")
        ax = axis_index(self.axis, x.rank, "topk")
        k, size = Dim.of(self.k), x.shape[ax]
        if k.is_const() and k.value < 1:
            raise ShapeError("E205", f"topk: k must be >= 1, got {k}", expected="k >= 1", got=str(k))
        over = k - size
        if over.is_const() and over.value > 0:
            raise ShapeError("E303", f"topk: k = {k} is larger than axis {ax} of {fmt_shape(x.shape)} "
                             f"(size {size})", expected=f"k <= {size}", got=f"k = {k}",
                             culprits=(0,), help=f"take at most {size}")
        out = x.with_shape(x.shape[:ax] + (k,) + x.shape[ax + 1:])
        return out, out.model_copy(update={"dtype": "i64"})

    def plan(self, xs) -> tuple[int, tuple]:
        """(axis, k as a runtime_plan entry) for the lowerings."""
        ax = axis_index(self.axis, xs[0].rank, "topk")
        return ax, runtime_plan(self.k, xs[0].shape[ax])

    def runtime_sizes(self, xs, ys):
        return _computed(self.plan(xs)[1])


class OneHot(Op):
    """one_hot(num_classes, dtype=i64): an integer tensor [*] -> [*, num_classes], 1 at each
    index and 0 elsewhere (torch's F.one_hot, whose result is i64; `dtype=f32` gives floats
    directly). Index values must lie in [0, num_classes): torch raises on others, while ONNX
    OneHot reads a negative index from the end (and gives a zero row past the end)."""
    kind: ClassVar[str] = "one_hot"
    positional: ClassVar[tuple[str, ...]] = ("num_classes",)
    num_classes: int
    dtype: DType = "i64"

    def shape(self, x):
        _need_int(x, "one_hot", 0)
        if self.num_classes < 1:
            raise ShapeError("E205", f"one_hot needs num_classes >= 1, got {self.num_classes}",
                             expected="num_classes >= 1", got=str(self.num_classes),
                             help="torch's num_classes=-1 (inferred from the data) has no "
                                  "static shape: give the number")
        return x.model_copy(update={"dtype": self.dtype,
                                    "shape": x.shape + (Dim.of(self.num_classes),)})


class CumSum(Op):
    """cumsum(axis): running sums along `axis`, out[i] = x[0] + ... + x[i]; same shape and
    dtype (floating, i32 or i64; torch's widening of integers to i64 is not applied)."""
    kind: ClassVar[str] = "cumsum"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    axis: int

    def shape(self, x):
        _need_rank1(x, "cumsum")
        if x.dtype not in ("f16", "bf16", "f32", "f64", "i32", "i64"):
            raise ShapeError("E306", f"cumsum sums floating-point or i32/i64 tensors, got {x}",
                             expected="f16, bf16, f32, f64, i32 or i64", got=str(x),
                             culprits=(0,), help="convert it first: `x -> cast(i64)`")
        axis_index(self.axis, x.rank, "cumsum")
        return x


OPS = (Gather, IndexSelect, Slice, TopK, OneHot, CumSum)
