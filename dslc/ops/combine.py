"""Ops that combine tensors along an axis: concat, split (arithmetic lives in ops/arith.py)."""
from __future__ import annotations

from typing import ClassVar

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, agree_condition as _condition, axis_index


class Concat(Op):
    """concat(a, b, ..., axis=1): sizes add up along `axis` (channels by default); all other
    dims must be equal."""
    kind: ClassVar[str] = "concat"
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    axis: int = 1

    def shape(self, *xs):
        first = xs[0]
        ax = axis_index(self.axis, first.rank, "concat")
        total = Dim.of(0)
        for i, x in enumerate(xs):
            if x.rank != first.rank or x.dtype != first.dtype:
                raise ShapeError("E301" if x.rank != first.rank else "E306",
                                 f"concat input {i + 1} is {x}, input 1 is {first}",
                                 expected=f"{first.dtype}, rank {first.rank}", got=str(x),
                                 culprits=(0, i))
            for d, (p, q) in enumerate(zip(first.shape, x.shape)):
                if d != ax and p != q:
                    cond = _condition(p, q)
                    raise ShapeError("E302", f"concat along axis {ax}: input {i + 1} has size {q} "
                                     f"at axis {d} where input 1 has {p}" + cond[0],
                                     expected=fmt_shape(first.shape[:ax] + ("*",) + first.shape[ax + 1:]),
                                     got=fmt_shape(x.shape), culprits=(0, i), requires=cond[2],
                                     help=cond[1] or "all dims but the concatenated one must agree; "
                                                     "check the padding of each branch")
            total = total + x.shape[ax]
        return first.with_shape(first.shape[:ax] + (total,) + first.shape[ax + 1:])


class Split(Op):
    """split(x, parts, axis=1): `parts` equal slices along `axis` -> several outputs
    (`a, b = split(x, 2)`). The axis size must be a known multiple of `parts`."""
    kind: ClassVar[str] = "split"
    positional: ClassVar[tuple[str, ...]] = ("parts", "axis")
    parts: int
    axis: int = 1

    def shape(self, x):
        ax = axis_index(self.axis, x.rank, "split")
        if self.parts < 1:
            raise ShapeError("E205", f"split needs at least one part, got {self.parts}")
        size = x.shape[ax]
        if (size // self.parts) * self.parts != size:
            raise ShapeError("E305", f"split: axis {ax} has size {size}, not a multiple of "
                             f"{self.parts}", expected=f"a multiple of {self.parts}", got=str(size),
                             culprits=(0,))
        part = x.with_shape(x.shape[:ax] + (size // self.parts,) + x.shape[ax + 1:])
        return (part,) * self.parts


OPS = (Concat, Split)
