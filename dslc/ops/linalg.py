"""Contractions: matmul (`a @ b`) and einsum. No parameters; MACs count multiply-accumulates.

Dtypes: both operands (all operands of einsum) share one dtype, a floating one or i32/i64 (the
types ONNX MatMul and onnxruntime's Einsum take); no implicit promotion."""
from __future__ import annotations

from typing import ClassVar

from ..ir.dims import Dim, fmt_shape
from .base import Op, ShapeError, agree_condition, broadcast_shape

_NUMERIC = ("f16", "bf16", "f32", "f64", "i32", "i64")


def _product(dims) -> Dim:
    out = Dim.of(1)
    for d in dims:
        out = out * d
    return out


def _need_numeric(x, what: str, index: int) -> None:
    if x.dtype not in _NUMERIC:
        raise ShapeError("E306", f"{what} multiplies floating-point or i32/i64 tensors, got {x}",
                         expected="f16, bf16, f32, f64, i32 or i64", got=str(x),
                         culprits=(index,), help="convert it first: `x -> cast(f32)`")


def _one_dtype(xs, what: str) -> None:
    for i, x in enumerate(xs):
        _need_numeric(x, what, i)
        if x.dtype != xs[0].dtype:
            raise ShapeError("E306", f"{what} needs tensors of one dtype: input 1 is {xs[0]}, "
                             f"input {i + 1} is {x}", expected=xs[0].dtype, got=x.dtype,
                             culprits=(0, i),
                             help=f"convert one first, e.g. `x -> cast({xs[0].dtype})`")


class MatMul(Op):
    """matmul(a, b) or `a @ b`: torch.matmul. Each operand has rank >= 1; a 1-D `a` [K] is
    read as [1, K] and a 1-D `b` [K] as [K, 1], the added axis dropped from the result. Then
    a [..., T, K] @ b [..., K, S] -> [..., T, S], the leading (batch) axes broadcast with
    numpy's rules; K must agree (E302). MACs: (broadcast batch) * T * K * S."""
    kind: ClassVar[str] = "matmul"
    arity: ClassVar[tuple[int, int | None]] = (2, 2)

    def shape(self, a, b):
        for i, x in enumerate((a, b)):
            if x.rank < 1:
                raise ShapeError("E301", f"matmul needs operands of rank >= 1, input {i + 1} is {x}",
                                 expected="rank >= 1", got=f"rank-0 {fmt_shape(x.shape)}",
                                 culprits=(i,))
        _one_dtype((a, b), "matmul")
        ka = a.shape[-1]
        kb = b.shape[0] if b.rank == 1 else b.shape[-2]
        if ka != kb:
            cond, hint, req = agree_condition(ka, kb)
            want = (ka,) if b.rank == 1 else b.shape[:-2] + (ka, b.shape[-1])
            raise ShapeError("E302", f"matmul: the inner sizes of {fmt_shape(a.shape)} @ "
                             f"{fmt_shape(b.shape)} differ ({ka} vs {kb})" + cond,
                             expected=f"a second operand like {fmt_shape(want)}",
                             got=fmt_shape(b.shape), culprits=(0, 1), requires=req,
                             help=hint or f"the last axis of the first operand ({ka}) must equal "
                                          f"the {'only' if b.rank == 1 else 'second-to-last'} "
                                          f"axis of the second ({kb}); a transpose or a dense "
                                          "layer can make them agree")
        try:
            batch = broadcast_shape(a.shape[:-2], b.shape[:-2], "the batch axes")
        except ShapeError as err:
            raise ShapeError(err.code, f"matmul {fmt_shape(a.shape)} @ {fmt_shape(b.shape)}, "
                             f"{err.message}", expected=err.expected, got=err.got,
                             help=err.help, culprits=(0, 1)) from None
        rows = (a.shape[-2],) if a.rank >= 2 else ()
        cols = (b.shape[-1],) if b.rank >= 2 else ()
        return a.with_shape(batch + rows + cols)

    def macs(self, xs, ys):
        """numel(output) * K: every output element is one dot product of length K."""
        return _product(ys[0].shape) * xs[0].shape[-1]


_ELLIPSIS = "..."


def _parse_term(term: str, where: str) -> list[str]:
    """'b...ij' -> ['b', '...', 'i', 'j']."""
    out, i = [], 0
    while i < len(term):
        c = term[i]
        if term.startswith(_ELLIPSIS, i):
            if _ELLIPSIS in out:
                raise ShapeError("E205", f"einsum: {where} `{term}` has `...` twice")
            out.append(_ELLIPSIS)
            i += 3
            continue
        if not (c.isascii() and c.isalpha()):
            raise ShapeError("E205", f"einsum: {where} `{term}` has `{c}`; subscripts are the "
                             "letters a-z, A-Z and one `...`",
                             expected="letters and at most one `...`", got=repr(term))
        out.append(c)
        i += 1
    return out


class Einsum(Op):
    """einsum("bij,bjk->bik"): torch.einsum. One comma-separated letter group per input, each
    naming every axis of its input (E301 otherwise); a letter has one size wherever it appears
    (E302; no size-1 broadcasting of letters). After `->` the output letters, each from some
    input and at most once; without `->`, torch's implicit rule: the letters appearing exactly
    once, in alphabetical order (capitals first). `...` stands for the remaining axes of an
    input; those axes broadcast (numpy rules, aligned right) and must appear in the output
    (as in numpy and ONNX). Letters absent from the output are summed over.
    Output: the sizes of the output letters, `...` the broadcast axes. MACs: the product of
    the sizes of all distinct letters (and of the broadcast `...` axes)."""
    kind: ClassVar[str] = "einsum"
    positional: ClassVar[tuple[str, ...]] = ("equation",)
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    equation: str

    def parse(self, n_inputs: int) -> tuple[list[list[str]], list[str]]:
        """(the letter groups of the inputs, the output's), the implicit output made explicit."""
        eq = "".join(self.equation.split())
        if eq.count("->") > 1:
            raise ShapeError("E205", f"einsum: `{self.equation}` has more than one `->`")
        lhs, arrow, rhs = eq.partition("->")
        terms = [_parse_term(t, f"input {i + 1}") for i, t in enumerate(lhs.split(","))]
        if len(terms) != n_inputs:
            raise ShapeError("E208", f"einsum: `{self.equation}` has {len(terms)} input "
                             f"group(s), but {n_inputs} tensor(s) are given",
                             expected=f"{len(terms)} tensor input(s)", got=str(n_inputs))
        if not arrow:
            counts: dict[str, int] = {}
            for t in terms:
                for c in t:
                    counts[c] = counts.get(c, 0) + 1
            ell = [_ELLIPSIS] if _ELLIPSIS in counts else []
            return terms, ell + sorted(c for c, k in counts.items() if k == 1 and c != _ELLIPSIS)
        out = _parse_term(rhs, "the output")
        seen = {c for t in terms for c in t}
        for i, c in enumerate(out):
            if c in out[:i]:
                raise ShapeError("E205", f"einsum: `{c}` appears twice in the output `{rhs}`",
                                 expected="each output letter once", got=rhs)
            if c != _ELLIPSIS and c not in seen:
                raise ShapeError("E205", f"einsum: the output letter `{c}` appears in no input "
                                 f"of `{self.equation}`", expected="letters of the inputs",
                                 got=rhs)
        if _ELLIPSIS in seen and _ELLIPSIS not in out:
            raise ShapeError("E205", f"einsum: `{self.equation}` has `...` in an input but "
                             "not in the output", expected=f"`...` in the output, e.g. "
                             f"`...{rhs}`", got=rhs)
        return terms, out

    def analyse(self, *xs):
        """(terms, output, letter -> size, the broadcast `...` axes, per input its `...` axes),
        every rule checked."""
        terms, out = self.parse(len(xs))
        _one_dtype(xs, "einsum")
        sizes: dict[str, tuple[Dim, int]] = {}
        ell_axes: list[tuple[Dim, ...] | None] = []
        ell = ()
        for k, (t, x) in enumerate(zip(terms, xs)):
            letters = [c for c in t if c != _ELLIPSIS]
            group = "".join(t)
            if (len(letters) != x.rank) if _ELLIPSIS not in t else len(letters) > x.rank:
                more = " or more" if _ELLIPSIS in t else ""
                raise ShapeError("E301", f"einsum: input {k + 1} is {x}, but its letters "
                                 f"`{group}` name {len(letters)}{more} axes",
                                 expected=f"rank {len(letters)}{more} for `{group}`",
                                 got=f"rank-{x.rank} {fmt_shape(x.shape)}", culprits=(k,),
                                 help="write one letter per axis (`...` for the rest)")
            axes = list(x.shape)
            if _ELLIPSIS in t:
                at = t.index(_ELLIPSIS)
                n_ell = x.rank - len(letters)
                mine = tuple(axes[at:at + n_ell])
                axes = axes[:at] + [None] * n_ell + axes[at + n_ell:]
                try:
                    ell = broadcast_shape(ell, mine, "einsum `...` axes")
                except ShapeError as err:
                    raise ShapeError(err.code, f"einsum `{self.equation}`: input {k + 1} "
                                     f"{fmt_shape(x.shape)}: {err.message}",
                                     expected=err.expected, got=err.got, help=err.help) from None
                ell_axes.append(mine)
                letter_axes = [d for d in axes if d is not None]
            else:
                ell_axes.append(None)
                letter_axes = axes
            for c, d in zip(letters, letter_axes):
                if c not in sizes:
                    sizes[c] = (d, k)
                    continue
                first, j = sizes[c]
                if first != d:
                    cond, hint, req = agree_condition(first, d)
                    where = f"input {j + 1}" if j != k else f"another axis of input {k + 1}"
                    raise ShapeError("E302", f"einsum `{self.equation}`: letter `{c}` has size "
                                     f"{first} in {where} {fmt_shape(xs[j].shape)} but {d} in "
                                     f"input {k + 1} {fmt_shape(x.shape)}" + cond,
                                     expected=f"`{c}` = {first}", got=f"`{c}` = {d}",
                                     culprits=tuple(sorted({j, k})), requires=req,
                                     help=hint or "a letter names one size: rename one of the "
                                                  "letters, or make the sizes agree")
        return terms, out, {c: d for c, (d, _) in sizes.items()}, ell, ell_axes

    def shape(self, *xs):
        _, out, sizes, ell, _ = self.analyse(*xs)
        dims: list[Dim] = []
        for c in out:
            dims += list(ell) if c == _ELLIPSIS else [sizes[c]]
        return xs[0].with_shape(dims)

    def explicit(self, *xs) -> str:
        """The equation with its output written out and spaces removed (both lowerings)."""
        terms, out = self.parse(len(xs))
        return ",".join("".join(t) for t in terms) + "->" + "".join(out)

    def macs(self, xs, ys):
        """The product of every letter's size (and of the `...` axes): one multiply-accumulate
        per combination of indices."""
        _, _, sizes, ell, _ = self.analyse(*xs)
        return _product(sizes.values()) * _product(ell)

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f'einsum("{self.equation}")'


OPS = (MatMul, Einsum)
