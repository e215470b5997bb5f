"""Ops that combine tensors: add and mul (numpy broadcasting, proved on the IR's dims), concat."""
from __future__ import annotations

from typing import ClassVar

from ..dims import Dim, condition_for_equal, fmt_shape
from .base import Op, ShapeError, axis_index


def _condition(p: Dim, q: Dim) -> tuple[str, str | None]:
    """For sizes equal only at some input sizes: (message suffix, help)."""
    cond = None if p.is_const() and q.is_const() else condition_for_equal(p, q)
    if cond is None:
        return "", None
    return f"; they agree only when {cond}", f"declare it on the input: `where {cond}`"


def broadcast(a, b, what: str):
    if a.dtype != b.dtype:
        raise ShapeError("E306", f"{what} needs tensors of one dtype, got {a.dtype} and {b.dtype}",
                         expected=a.dtype, got=b.dtype)
    out = []
    rank = max(len(a.shape), len(b.shape))
    pa = (Dim.of(1),) * (rank - len(a.shape)) + a.shape      # numpy: align on the right
    pb = (Dim.of(1),) * (rank - len(b.shape)) + b.shape
    for axis, (da, db) in enumerate(zip(pa, pb)):             # the first mismatch is reported
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            cond = _condition(da, db)
            raise ShapeError("E302", f"{what}: shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} "
                             f"do not match at axis {axis} (size {da} vs {db})" + cond[0],
                             expected=fmt_shape(a.shape), got=fmt_shape(b.shape),
                             help=cond[1] or "sizes must be equal, or 1 to broadcast; a projection "
                                             "(conv or dense) can make them agree")
    return a.with_shape(tuple(out))


class _Binary(Op):
    arity: ClassVar[tuple[int, int | None]] = (2, 2)
    onnx_type: ClassVar[str]

    def shape(self, a, b):
        return broadcast(a, b, self.kind)

    def torch(self, node):
        from ..backends.torch_modules import Binary
        return Binary(self.kind)

    def onnx(self, b, node, ins, outs):
        b.node(self.onnx_type, ins, outs, name=node.name)


class Add(_Binary):
    """add(a, b) or `a + b`: elementwise with broadcasting."""
    kind: ClassVar[str] = "add"
    onnx_type: ClassVar[str] = "Add"


class Mul(_Binary):
    """mul(a, b) or `a * b`: elementwise with broadcasting."""
    kind: ClassVar[str] = "mul"
    onnx_type: ClassVar[str] = "Mul"


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
                                     got=fmt_shape(x.shape), culprits=(0, i),
                                     help=cond[1] or "all dims but the concatenated one must agree; "
                                                     "check the padding of each branch")
            total = total + x.shape[ax]
        return first.with_shape(first.shape[:ax] + (total,) + first.shape[ax + 1:])

    def torch(self, node):
        from ..backends.torch_modules import Concat as C
        return C(self.axis)

    def onnx(self, b, node, ins, outs):
        b.node("Concat", ins, outs, name=node.name, axis=self.axis)


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

    def torch(self, node):
        from ..backends.torch_modules import Split as S
        return S(self.parts, self.axis)

    def onnx(self, b, node, ins, outs):
        b.node("Split", ins, outs, name=node.name, axis=self.axis, num_outputs=self.parts)


OPS = (Add, Mul, Concat, Split)
