"""Shaping ops: expand, unsqueeze, squeeze, repeat_interleave, tile, stack. No parameters; they
move or copy data (0 MACs). Sizes may be symbolic where a rule allows it (`expand(N, 16, 64)`):
a lowering reads each symbol at run time from an input dim that is exactly that symbol."""
from __future__ import annotations

from typing import ClassVar, Optional, Union

from pydantic import StrictInt

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, agree_condition, axis_index

Size = Union[int, Dim]


def _new_axis(axis: int, rank: int, what: str) -> int:
    """An axis of the output of an op that adds one axis (unsqueeze, stack): torch counts a
    negative axis in the output's rank, so it lies in [-(rank+1), rank]."""
    return axis_index(axis, rank + 1, what)


class Expand(Op):
    """expand(*sizes): torch's `x.expand`. One size per output axis; the input is aligned on the
    right and extra sizes are new leading axes. -1 keeps the input's size (not on a new axis).
    An input axis of size 1 grows to any size; any other axis must provably equal its size, else
    E302 (a symbolic axis that only might be 1 counts as not 1). Sizes are >= 1 or -1 (E205) and
    may be symbolic: each symbol of a size that grows an axis is read at run time from an input
    dim that is exactly that symbol, in the expanded tensor or in the inputs after it (the
    elaborator appends a model input for each symbol they lack: `Op.runtime_sizes`; E304 when
    no model input has one). Those extra inputs only carry sizes: [*in] -> [*sizes]."""
    kind: ClassVar[str] = "expand"
    varargs: ClassVar[str | None] = "sizes"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    sizes: tuple[Size, ...] = ()

    def shape(self, x, *sources):
        sizes = [Dim.of(s) for s in self.sizes]
        if not sizes:
            raise ShapeError("E204", "expand needs a size for every output axis, e.g. "
                             "expand(N, 16, 64)")
        if len(sizes) < x.rank:
            raise ShapeError("E301", f"expand: {len(sizes)} size(s) for the rank-{x.rank} input "
                             f"{fmt_shape(x.shape)}: give one per axis (-1 keeps one)",
                             expected=f"at least {x.rank} sizes", got=str(len(sizes)),
                             culprits=(0,))
        lead = len(sizes) - x.rank
        out = []
        for i, s in enumerate(sizes):
            if s.is_const() and s.value < 1 and not (s == -1 and i >= lead):
                where = "a new leading axis" if s == -1 else "a size"
                raise ShapeError("E205", f"expand: {s} is not a valid size for {where} "
                                 f"(axis {i})", expected=("a size >= 1" if i < lead else
                                                          "a size >= 1, or -1 to keep it"),
                                 got=str(s))
            d = x.shape[i - lead] if i >= lead else None
            if d is not None and (s == -1 or s == d):
                out.append(d)
                continue
            if d is not None and d != 1:
                cond = agree_condition(d, s)
                raise ShapeError("E302", f"expand: axis {i} of {fmt_shape(x.shape)} has size {d}; "
                                 f"only a size-1 axis grows, not to {s}" + cond[0],
                                 expected=f"{d} (or -1) at axis {i}", got=str(s), culprits=(0,),
                                 requires=cond[2],
                                 help=cond[1] or "only axes of size 1 can be expanded; "
                                 "`tile` or `repeat_interleave` copy other axes")
            out.append(s)
        return x.with_shape(out)

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"expand({', '.join(str(s) for s in self.sizes)})"

    def targets(self, xs, ys) -> list[Dim | None]:
        """Per output axis: None where the input's size is kept, else the size to grow to."""
        t_in, t_out = xs[0], ys[0]
        lead = t_out.rank - t_in.rank
        return [None if i >= lead and d == t_in.shape[i - lead] else d
                for i, d in enumerate(t_out.shape)]

    def runtime_sizes(self, xs, ys):
        return tuple(d for d in self.targets(xs, ys) if d is not None and not d.is_const())


class Unsqueeze(Op):
    """unsqueeze(axis): a new size-1 axis at `axis` of the output; a negative axis counts in
    the output's rank (torch): [A, B] -> unsqueeze(-1) -> [A, B, 1]."""
    kind: ClassVar[str] = "unsqueeze"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    axis: StrictInt

    def shape(self, x):
        a = _new_axis(self.axis, x.rank, "unsqueeze")
        return x.with_shape(x.shape[:a] + (Dim.of(1),) + x.shape[a:])


class Squeeze(Op):
    """squeeze(axis=None): removes size-1 axes. With no axis, every axis whose size is known to
    be 1 (a symbolic axis stays, even if it is 1 at run time). With an axis or a tuple of axes,
    each must be 1: unlike torch, which leaves a non-1 axis alone, a known size other than 1 is
    an E302 and a symbolic size (not provably 1) an E304."""
    kind: ClassVar[str] = "squeeze"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    axis: Optional[Union[StrictInt, tuple[StrictInt, ...]]] = None

    def axes(self, x) -> list[int]:
        if self.axis is None:
            return [i for i, d in enumerate(x.shape) if d == 1]
        given = (self.axis,) if isinstance(self.axis, int) else self.axis
        axes = [axis_index(a, x.rank, "squeeze") for a in given]
        if len(set(axes)) != len(axes):
            raise ShapeError("E205", f"squeeze: axis {self.axis} names an axis twice",
                             expected="distinct axes", got=str(self.axis))
        for a in axes:
            d = x.shape[a]
            if d == 1:
                continue
            if d.is_const():
                raise ShapeError("E302", f"squeeze: axis {a} of {fmt_shape(x.shape)} has size {d}, "
                                 "not 1", expected=f"size 1 at axis {a}", got=str(d),
                                 culprits=(0,), help="only size-1 axes can be squeezed; "
                                 "reduce (`sum`, `mean`) or `select` to drop an axis")
            raise ShapeError("E304", f"squeeze: axis {a} of {fmt_shape(x.shape)} has the symbolic "
                             f"size `{d}`, not provably 1", expected=f"size 1 at axis {a}",
                             got=str(d), culprits=(0,),
                             help="squeeze needs a known size 1: make that dim 1 in the input type")
        return sorted(axes)

    def shape(self, x):
        drop = set(self.axes(x))
        return x.with_shape([d for i, d in enumerate(x.shape) if i not in drop])


class RepeatInterleave(Op):
    """repeat_interleave(repeats, axis=None): each element repeated `repeats` times in a row
    along `axis`: that size times repeats ([A, B] -> repeat_interleave(2, axis=1) -> [A, 2*B]).
    With no axis the input is flattened first (torch): [A, B] -> [A*B*repeats]. repeats is an
    integer >= 1 (E205)."""
    kind: ClassVar[str] = "repeat_interleave"
    positional: ClassVar[tuple[str, ...]] = ("repeats", "axis")
    repeats: StrictInt
    axis: Optional[StrictInt] = None

    def shape(self, x):
        if self.repeats < 1:
            raise ShapeError("E205", f"repeat_interleave: repeats must be at least 1, got "
                             f"{self.repeats}", expected="an integer >= 1", got=str(self.repeats))
        if self.axis is None:
            total = Dim.of(self.repeats)
            for d in x.shape:
                total = total * d
            return x.with_shape((total,))
        a = axis_index(self.axis, x.rank, "repeat_interleave")
        return x.with_shape(x.shape[:a] + (x.shape[a] * self.repeats,) + x.shape[a + 1:])


class Tile(Op):
    """tile(*reps): torch.tile: each axis repeated reps[i] times as a whole (out = in * reps);
    fewer reps than axes are padded with 1 on the left, more reps add leading axes (the input
    is seen as having size-1 axes there): [A, B] -> tile(2, 1, 3) -> [2, A, 3*B]. reps >= 1."""
    kind: ClassVar[str] = "tile"
    varargs: ClassVar[str | None] = "reps"
    reps: tuple[StrictInt, ...] = ()

    def full_reps(self, rank: int) -> tuple[int, ...]:
        if not self.reps:
            raise ShapeError("E204", "tile needs the repetitions, e.g. tile(2, 1)")
        bad = [r for r in self.reps if r < 1]
        if bad:
            raise ShapeError("E205", f"tile: repetitions must be at least 1, got {bad[0]}",
                             expected="integers >= 1", got=str(tuple(self.reps)))
        return (1,) * (rank - len(self.reps)) + tuple(self.reps)

    def shape(self, x):
        reps = self.full_reps(x.rank)
        dims = (Dim.of(1),) * (len(reps) - x.rank) + x.shape
        return x.with_shape([d * r for d, r in zip(dims, reps)])

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"tile({', '.join(str(r) for r in self.reps)})"


class Stack(Op):
    """stack(a, b, ..., axis=0): tensors of one shape and dtype along a new axis of size the
    number of inputs; a negative axis counts in the output's rank: two [A, B] -> [2, A, B]."""
    kind: ClassVar[str] = "stack"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    axis: StrictInt = 0

    def shape(self, *xs):
        first = xs[0]
        for i, x in enumerate(xs[1:], start=1):
            if x.dtype != first.dtype:
                raise ShapeError("E306", f"stack input {i + 1} is {x}, input 1 is {first}",
                                 expected=first.dtype, got=x.dtype, culprits=(0, i),
                                 help=f"convert it first: `cast({first.dtype})`")
            if x.rank != first.rank:
                raise ShapeError("E301", f"stack input {i + 1} is {x}, input 1 is {first}",
                                 expected=f"rank {first.rank} {fmt_shape(first.shape)}",
                                 got=f"rank {x.rank} {fmt_shape(x.shape)}", culprits=(0, i))
            for axis, (p, q) in enumerate(zip(first.shape, x.shape)):
                if p != q:
                    cond = agree_condition(p, q)
                    raise ShapeError("E302", f"stack: input {i + 1} has size {q} at axis {axis} "
                                     f"where input 1 has {p}" + cond[0],
                                     expected=fmt_shape(first.shape), got=fmt_shape(x.shape),
                                     culprits=(0, i), requires=cond[2],
                                     help=cond[1] or "stacked tensors need one shape; `concat` "
                                                     "joins tensors along an existing axis")
        a = _new_axis(self.axis, first.rank, "stack")
        return first.with_shape(first.shape[:a] + (Dim.of(len(xs)),) + first.shape[a:])


OPS = (Expand, Unsqueeze, Squeeze, RepeatInterleave, Tile, Stack)
