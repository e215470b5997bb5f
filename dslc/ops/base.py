"""The Op base class: hyperparameters as frozen pydantic fields, plus what is true of an op in
every target: shape rule, parameter shapes, MACs, torch-default initialisation, description.

Subclasses implement `shape(*xs)` (one TensorType or a tuple of them) and `params`. How an op
is computed in a target is that backend's table entry (dslc/backends/<target>/<family>.py),
never a method here; nothing here imports torch or onnx.
"""
from __future__ import annotations

import math
from math import prod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from ..ir.dims import Dim, condition_for_equal, fmt_shape
from ..ir.core import FLOAT_DTYPES, TensorType


class ShapeError(Exception):
    """Raised by a shape rule. `culprits` are the input indices whose producers deserve a note."""

    def __init__(self, code: str, message: str, expected: str | None = None,
                 got: str | None = None, help: str | None = None,
                 culprits: tuple[int, ...] | None = None, requires: tuple = ()):
        super().__init__(message)
        self.code, self.message, self.expected, self.got = code, message, expected, got
        self.help, self.culprits, self.requires = help, culprits, requires


class Unsupported(Exception):
    """Raised by a lowering that cannot express this op instance (becomes an E401)."""


class Op(BaseModel):
    # defer_build: a schema is built on first use, so `dslc check` pays only for the ops it uses.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True,
                              arbitrary_types_allowed=True)

    kind: ClassVar[str]
    positional: ClassVar[tuple[str, ...]] = ()
    varargs: ClassVar[str | None] = None     # a field that collects every positional argument
    # Optional tensor inputs given by keyword (`initial=state`): each becomes extra node inputs
    # after the piped ones, in this order, and its field holds how many tensors were given.
    tensor_args: ClassVar[tuple[str, ...]] = ()
    # Fields `describe` shows even at their defaults, where a reader needs the value
    # (dropout's rate, leaky_relu's slope).
    shown: ClassVar[tuple[str, ...]] = ()
    arity: ClassVar[tuple[int, int | None]] = (1, 1)   # min, max tensor inputs (None: any)
    # Computed in f32 when its tensors are f16/bf16 (normalisations, softmax, attention,
    # recurrences, reductions): both backends cast the inputs up and the outputs back, and its
    # parameters and buffers stay f32 (Node.param_dtype).
    precise: ClassVar[bool] = False
    # Its `dtype` field defaults to the model's floating dtype (a free parameter's).
    model_dtype: ClassVar[bool] = False
    # Fields holding an ir.Model the op runs (a scan's cell body): Model.walk() enters them.
    regions: ClassVar[tuple[str, ...]] = ()

    def bodies(self) -> tuple:
        """The models in the op's `regions` fields."""
        return tuple(getattr(self, f) for f in self.regions)

    # ---- the IR side ----
    def shape(self, *xs: TensorType):
        raise NotImplementedError

    def infer(self, *xs: TensorType) -> tuple[TensorType, ...]:
        eps = getattr(self, "eps", None)
        if isinstance(eps, float) and eps < 0:      # every norm's: added under a square root
            raise ShapeError("E205", f"{self.kind}: eps must be >= 0, got {eps}",
                             expected="eps >= 0", got=str(eps))
        out = self.shape(*xs)
        return out if isinstance(out, tuple) else (out,)

    def params(self, *xs: TensorType) -> dict[str, tuple[int, ...]]:
        return {}

    def buffers(self, *xs: TensorType) -> dict[str, tuple[int, ...]]:
        return {}

    def macs(self, xs, ys) -> Dim:
        return Dim.of(0)

    def runtime_sizes(self, xs, ys) -> tuple[Dim, ...]:
        """The symbolic sizes its lowerings compute at run time (a reshape's target dims that
        are no input dim, a slice's bounds): the elaborator appends a model input carrying each
        of their symbols that no input dim here is, and refuses (E304) one that no model input
        carries; the lowerings read them with `symbol_sources` and `Dim.fold`."""
        return ()

    def init(self, name: str, shape: tuple[int, ...], xs, rng):
        """torch's default initialisation for a parameter or buffer of this op."""
        return torch_uniform(shape, fan_in(shape), rng)

    def derived(self, name: str):
        """(another parameter's local name, a function of its drawn array) when this
        parameter's default value is computed from that one's (weight norm's g = ||v||, as
        torch sets it), else None: drawn by `init`."""
        return None

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        """Compact hyperparameters for tables: `conv2d(64, 3, stride=2)`; the fields in `shown`
        even at their defaults (`dropout(0.5)`); a tensor argument by the values it takes, the
        last of the node's `inputs` (`lstm(64, lengths=src_len)`), else as `<tensor>`."""
        fields = self.model_dump(exclude_defaults=True)
        for k in self.shown:
            fields.setdefault(k, getattr(self, k))
        fields = {k: fields[k] for k in type(self).model_fields if k in fields}   # declared order
        given = [k for k in self.tensor_args if fields.get(k)]
        extra = list(inputs[len(inputs) - sum(fields[k] for k in given):]) if inputs else []
        for k in given:
            names, extra = extra[:fields[k]], extra[fields[k]:]
            fields[k] = _Raw(", ".join(names) if len(names) == 1 else f"({', '.join(names)})") \
                if len(names) == fields[k] else _Raw("<tensor>")
        pos = [repr_value(fields.pop(k)) for k in self.positional if k in fields]
        kw = [f"{k}={repr_value(v)}" for k, v in fields.items()]
        return f"{self.kind}({', '.join(pos + kw)})" if pos or kw else self.kind


def variant(base: type, kind: str, **classvars) -> type:
    """A concrete op of a family (conv2d of the convolutions): pydantic knows `kind`, `n`, ...
    as class variables of the base, so only their values change."""
    return type(kind, (base,), {"__module__": base.__module__, "__doc__": base.__doc__,
                                "kind": kind, **classvars})


class _Raw(str):
    """Text shown as it is by repr_value (a tensor argument's value names)."""


def repr_value(v) -> str:
    if isinstance(v, _Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(repr_value(x) for x in v) + ")"
    return str(v)


# ---- helpers shared by the op families ----
def fan_in(shape: tuple[int, ...]) -> int:
    return shape[1] * prod(shape[2:]) if len(shape) >= 2 else shape[0]


def torch_uniform(shape, fan: int, rng):
    """kaiming_uniform(a=sqrt(5)) on weights and the bias rule both reduce to U(-1/sqrt(fan), ..)."""
    import numpy as np
    bound = 1.0 / math.sqrt(fan) if fan > 0 else 0.0
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def need_rank(x: TensorType, ranks, what: str, layout: str, index: int = 0) -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if x.rank not in ranks:
        want = " or ".join(f"rank-{r}" for r in ranks)
        raise ShapeError("E301", f"{what} expects a {want} input {layout}, got {fmt_shape(x.shape)}",
                         expected=f"{want} {layout}", got=f"rank-{x.rank} {fmt_shape(x.shape)}",
                         culprits=(index,))


def need_axes(x: TensorType, n: int, what: str, index: int = 0) -> None:
    """E301 unless `x` has at least `n` axes (a full reduction leaves a rank-0 tensor)."""
    if x.rank < n:
        raise ShapeError("E301", f"{what} needs an input with at least {n} ax{'is' if n == 1 else 'es'}, "
                         f"got the rank-{x.rank} tensor {fmt_shape(x.shape)}", expected=f"rank >= {n}",
                         got=f"rank-{x.rank} {fmt_shape(x.shape)}", culprits=(index,))


def need_float(x: TensorType, what: str, index: int = 0) -> None:
    if x.dtype not in FLOAT_DTYPES:
        raise ShapeError("E306", f"{what} expects a floating-point input, got the {x.dtype} "
                         f"tensor {x}", expected="f16, bf16, f32 or f64", got=x.dtype,
                         culprits=(index,), help=f"convert it first: `x -> cast(f32) -> {what}`")


def known(d: Dim, what: str, index: int = 0, help: str | None = None) -> int:
    """A size that must be a number (a weight's shape depends on it)."""
    if not d.is_const():
        raise ShapeError("E304", f"{what} must be a known size, but it is `{d}`",
                         expected="a known integer size", got=str(d), culprits=(index,),
                         help=help or "weights need fixed sizes: make that dim a number in the "
                                      "input type, or pool to a fixed size first")
    return d.value


def ntuple(v, n: int, what: str) -> tuple:
    if isinstance(v, (list, tuple)):
        if len(v) != n:
            raise ShapeError("E205", f"{what} needs {n} values for a {n}-d op, got {len(v)}",
                             expected=f"{n} values", got=str(len(v)))
        return tuple(v)
    return (v,) * n


def axis_index(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < rank:
        raise ShapeError("E205", f"{what}: axis {axis} is out of range for a rank-{rank} tensor",
                         expected=f"an axis in [{-rank}, {rank - 1}]", got=str(axis))
    return axis % rank


# ---- broadcasting (numpy rules, proved on the IR's dims) ----
def agree_condition(p: Dim, q: Dim) -> tuple[str, str | None, tuple]:
    """For sizes equal only at some input sizes: (message suffix, help, the requirement as
    ShapeError's `requires`)."""
    cond = None if p.is_const() and q.is_const() else condition_for_equal(p, q)
    if cond is None:
        return "", None, ()
    return f"; they agree only when {cond}", f"declare it on the input: `where {cond}`", (cond,)


def broadcast_shape(a: tuple, b: tuple, what: str) -> tuple[Dim, ...]:
    """numpy broadcasting of two shapes: aligned on the right, sizes equal or 1. The first
    mismatching axis is reported (with the condition under which symbolic sizes agree)."""
    out = []
    rank = max(len(a), len(b))
    pa = (Dim.of(1),) * (rank - len(a)) + tuple(a)
    pb = (Dim.of(1),) * (rank - len(b)) + tuple(b)
    for axis, (da, db) in enumerate(zip(pa, pb)):
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            cond = agree_condition(da, db)
            raise ShapeError("E302", f"{what}: shapes {fmt_shape(a)} and {fmt_shape(b)} "
                             f"do not match at axis {axis} (size {da} vs {db})" + cond[0],
                             expected=fmt_shape(a), got=fmt_shape(b), requires=cond[2],
                             help=cond[1] or "sizes must be equal, or 1 to broadcast; a projection "
                                             "(conv or dense) can make them agree")
    return tuple(out)


def broadcast(a, b, what: str):
    """Two tensors of one dtype, broadcast: the result's type."""
    if a.dtype != b.dtype:
        raise ShapeError("E306", f"{what} needs tensors of one dtype, got {a.dtype} and {b.dtype}",
                         expected=a.dtype, got=b.dtype,
                         help=f"convert one first, e.g. `x -> cast({a.dtype})`")
    return a.with_shape(broadcast_shape(a.shape, b.shape, what))


# ---- symbolic sizes at run time ----
def symbol_sources(in_types) -> dict[str, tuple[int, int]]:
    """symbol -> (input index, axis) of the first input dim that is exactly that symbol: where
    a lowering reads the symbol's value at run time (`expand(N, 16, 64)` reads N there; the
    elaborator has appended an input for each symbol of `Op.runtime_sizes`)."""
    out: dict[str, tuple[int, int]] = {}
    for k, t in enumerate(in_types):
        for axis, d in enumerate(t.shape):
            if not d.is_const() and d.is_atom() and not d.symbols() - {str(d)}:
                out.setdefault(str(d), (k, axis))
    return out
