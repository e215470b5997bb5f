"""Layout ops: flatten, reshape, permute, transpose. No parameters; the data is unchanged."""
from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Union

from ..ir.dims import Dim, condition_for_equal, fmt_shape
from .base import Op, ShapeError, axis_index

Size = Union[int, Dim]


def _product(dims) -> Dim:
    out = Dim.of(1)
    for d in dims:
        out = out * d
    return out


def reshape_plan(src, dst) -> list:
    """How to build the target shape at run time, shared by the lowerings: per target dim an
    int, ("copy", j) for the input's dim j, -1 for the first other symbolic dim, and ("dims", d)
    for the rest, computed from the model inputs' sizes (`runtime_dims`)."""
    plan, free = [], True
    for i, d in enumerate(dst):
        if d.is_const():
            plan.append(d.value)
        elif d in src:
            j = i if i < len(src) and src[i] == d else list(src).index(d)
            plan.append(("copy", j))
        elif free:
            plan.append(-1)
            free = False
        else:
            plan.append(("dims", d))
    return plan


def runtime_dims(plan) -> tuple[Dim, ...]:
    """The sizes of a reshape plan that are computed at run time."""
    return tuple(p[1] for p in plan if isinstance(p, tuple) and p[0] == "dims")


class _Reshaping(Op):

    def _plan(self, node):
        return reshape_plan(node.in_types[0].shape, node.out_types[0].shape)


class Flatten(_Reshaping):
    """flatten(start_dim=1, end_dim=-1): dims start..end become one, their product:
    [N, C, H, W] -> [N, C*H*W]."""
    kind: ClassVar[str] = "flatten"
    positional: ClassVar[tuple[str, ...]] = ("start_dim", "end_dim")
    start_dim: int = 1
    end_dim: int = -1

    def shape(self, x):
        a = axis_index(self.start_dim, x.rank, "flatten start_dim")
        e = axis_index(self.end_dim, x.rank, "flatten end_dim")
        if a > e:
            raise ShapeError("E205", f"flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for a rank-{x.rank} input")
        return x.with_shape(x.shape[:a] + (_product(x.shape[a:e + 1]),) + x.shape[e + 1:])


class Reshape(_Reshaping):
    """reshape(*shape): the full target shape, batch included (`reshape(N, -1)`); at most one
    -1, and the element count must provably stay the same."""
    kind: ClassVar[str] = "reshape"
    varargs: ClassVar[str | None] = "target"
    target: tuple[Size, ...] = ()

    def shape(self, x):
        target = [Dim.of(d) for d in self.target]
        if not target:
            raise ShapeError("E204", "reshape needs a target shape, e.g. reshape(N, -1)")
        holes = [i for i, d in enumerate(target) if d == -1]
        if len(holes) > 1 or any(d.is_const() and d.value < 1 and d != -1 for d in target):
            raise ShapeError("E205", f"reshape: sizes must be >= 1 with at most one -1, got "
                             f"{fmt_shape(target)}")
        total, rest = _product(x.shape), _product(d for d in target if d != -1)
        if holes:
            hole = _quotient(total, rest)
            if hole is None:
                raise ShapeError("E304", f"reshape: cannot infer -1 from {fmt_shape(x.shape)}: "
                                 f"the other sizes multiply to {rest}, not a single product",
                                 got=fmt_shape(target), culprits=(0,),
                                 help="write the size in place of -1")
            target[holes[0]] = hole
        if _product(target) != total:
            # An opaque floor in the hole or the target may become exact under a `where` fact.
            cond = condition_for_equal(_product(target), total)
            has = f"a multiple of {rest}" if holes else str(rest)
            raise ShapeError("E302", f"reshape: {fmt_shape(x.shape)} has {total} elements, the "
                             f"target {fmt_shape(self.target)} has {has}"
                             + (f"; they agree only when {cond}" if cond else ""),
                             expected=f"{total} elements", got=f"{has} elements", culprits=(0,),
                             help=f"declare it on the input: `where {cond}`" if cond else None,
                             requires=(cond,) if cond else ())
        return x.with_shape(target)

    def runtime_sizes(self, xs, ys):
        """Target dims past the first that are neither numbers nor input dims (a flatten has
        at most one such dim, its -1)."""
        return runtime_dims(reshape_plan(xs[0].shape, ys[0].shape))

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"reshape({', '.join(str(d) for d in self.target)})"


def _quotient(total: Dim, rest: Dim) -> Dim | None:
    """total / rest, the size a -1 stands for, when rest is a number or one product c*X*Y*..
    whose symbols divide every term of total; the number c goes through Dim's `//`, so it is
    exact under the input's `where` facts and an opaque floor otherwise (the caller then
    finds hole * rest != total). None when rest is a sum that is not total itself."""
    if rest == total:
        return Dim.of(1)
    if len(rest.terms) != 1:
        return None
    ((atoms, c),) = rest.terms.items()
    out = {}
    for mono, coef in total.terms.items():
        left = list(mono)
        for a in atoms:
            if a not in left:
                return None
            left.remove(a)
        out[tuple(left)] = coef
    c = Fraction(c)
    return (Dim(out) * c.denominator) // c.numerator


class Permute(Op):
    """permute(*dims): output dim i is input dim dims[i]; a permutation of all axes."""
    kind: ClassVar[str] = "permute"
    varargs: ClassVar[str | None] = "dims"
    dims: tuple[int, ...]

    def perm(self, rank: int) -> list[int]:
        p = [d % rank if -rank <= d < rank else d for d in self.dims]
        if sorted(p) != list(range(rank)):
            raise ShapeError("E205", f"permute{tuple(self.dims)} is not a permutation of the "
                             f"{rank} axes", expected=f"each of 0..{rank - 1} once",
                             got=str(tuple(self.dims)))
        return p

    def shape(self, x):
        return x.with_shape(tuple(x.shape[i] for i in self.perm(x.rank)))


class Transpose(Permute):
    """transpose(dim0, dim1): swap two axes."""
    kind: ClassVar[str] = "transpose"
    varargs: ClassVar[str | None] = None
    positional: ClassVar[tuple[str, ...]] = ("dim0", "dim1")
    dims: tuple[int, ...] = ()
    dim0: int
    dim1: int

    def perm(self, rank: int) -> list[int]:
        if self.dims:       # the field permute has; transpose's axes are dim0 and dim1
            raise ShapeError("E205", "transpose swaps dim0 and dim1; `dims=` is permute's",
                             expected="transpose(dim0, dim1)", got=f"dims={tuple(self.dims)}",
                             help=f"write permute{tuple(self.dims)}")
        a = axis_index(self.dim0, rank, "transpose dim0")
        c = axis_index(self.dim1, rank, "transpose dim1")
        p = list(range(rank))
        p[a], p[c] = p[c], p[a]
        return p


OPS = (Flatten, Reshape, Permute, Transpose)
