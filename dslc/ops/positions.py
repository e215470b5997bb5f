"""Positions: integer ranges and position ids, position tables, the position biases of
attention (T5's relative buckets, Swin's window table), rolls and windows. Sequences are
[N, T, D]; position ids are i64. No op here has MACs."""
from __future__ import annotations

import math
from typing import ClassVar, Literal, Optional, Union

from ..ir.core import FLOAT_DTYPES, INT_DTYPES, TensorType
from ..ir.dims import Dim, condition_for_equal, fmt_shape
from .base import Op, ShapeError, agree_condition, axis_index, known, need_axes, need_float, need_rank

Size = Union[int, Dim]
FloatDType = Literal[FLOAT_DTYPES]    # type: ignore[valid-type]
NumDType = Literal["i32", "i64", "f16", "bf16", "f32", "f64"]


def _need_ids(x, what: str, index: int, bool_ok: bool = False) -> None:
    if x.dtype not in INT_DTYPES and not (bool_ok and x.dtype == "bool"):
        kinds = "an integer or bool tensor" if bool_ok else "an integer tensor"
        raise ShapeError("E306", f"{what} needs {kinds}, got {x}", expected=kinds, got=str(x),
                         culprits=(index,), help="convert it first: `t -> cast(i64)`")


def _same_batch(x, t, what: str, index: int) -> None:
    """E302 unless t's first axis is x's (t is per row of x)."""
    if t.shape[0] != x.shape[0]:
        suffix, help, requires = agree_condition(t.shape[0], x.shape[0])
        raise ShapeError("E302", f"{what} {fmt_shape(t.shape)} has {t.shape[0]} rows, the input "
                         f"{fmt_shape(x.shape)} {x.shape[0]}" + suffix,
                         expected=f"{x.shape[0]} rows", got=str(t.shape[0]), culprits=(index,),
                         help=help, requires=requires)


class Arange(Op):
    """arange(end), arange(start, end), arange(start, end, step): torch.arange of integers, a
    value like `param` (no input): [ceil((end - start) / step)], i64 (`dtype=` i32, f16, bf16,
    f32, f64). start and end may be sizes of the model's inputs (`arange(T)`, `arange(2, T + 2)`,
    `arange(T - 1, -1, -1)`): the lowerings read them at run time from an input that has each
    symbol as a dim (the elaborator appends it). step is a nonzero int; the range must not be
    empty (E303 when that is known)."""
    kind: ClassVar[str] = "arange"
    varargs: ClassVar[str | None] = "bounds"
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    bounds: tuple[Size, ...] = ()
    dtype: NumDType = "i64"

    def range(self) -> tuple[Dim, Dim, int]:
        """(start, end, step)."""
        b = [Dim.of(v) for v in self.bounds]
        if not 1 <= len(b) <= 3:
            raise ShapeError("E204" if not b else "E207",
                             f"arange takes end, (start, end) or (start, end, step), got "
                             f"{len(b)} argument(s)", expected="1 to 3 integers",
                             got=str(len(b)), help="e.g. arange(T) or arange(2, T + 2)")
        start, end = (Dim.of(0), b[0]) if len(b) == 1 else (b[0], b[1])
        step = b[2] if len(b) == 3 else Dim.of(1)
        if not step.is_const() or step.value == 0:
            raise ShapeError("E205", f"arange: step must be a nonzero integer, got {step}",
                             expected="a nonzero integer", got=str(step))
        return start, end, step.value

    def shape(self, *carriers):
        start, end, step = self.range()
        n = (end - start).cdiv(step) if step > 0 else (start - end).cdiv(-step)
        if n.is_const() and n.value < 1:
            raise ShapeError("E303", f"arange({', '.join(str(v) for v in self.bounds)}) is empty",
                             expected="at least one value", got=f"{max(n.value, 0)} values",
                             help="the end is excluded: arange(T) is 0 .. T-1; a negative step "
                                  "counts down from start")
        return TensorType(dtype=self.dtype, shape=(n,))

    def runtime_sizes(self, xs, ys):
        return tuple(d for d in self.range()[:2] if not d.is_const())

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        dt = f", dtype={self.dtype}" if self.dtype != "i64" else ""
        return f"arange({', '.join(str(v) for v in self.bounds)}{dt})"


class Positions(Op):
    """positions(offset=0, past=, mask=): the i64 position ids [N, T] of a sequence x [N, T] or
    [N, T, ...] (ids or features), as Hugging Face's position_ids: offset + past + t at step
    t. `past=` an integer tensor, the number of positions already seen (a KV cache's length):
    rank 0 (all rows) or [N] (per row). `mask=` an attention mask [N, Tm] of 1 (token) and 0
    (padding), Tm >= T (past and present): HF's left-padding rule, cumsum(mask) - 1 where the
    mask is 1 and 1 where it is 0, its last T columns, plus offset (not with past=: the mask
    counts the past). Always [N, T], so it indexes like the ids it came from."""
    kind: ClassVar[str] = "positions"
    arity: ClassVar[tuple[int, int | None]] = (1, 3)
    tensor_args: ClassVar[tuple[str, ...]] = ("past", "mask")
    offset: int = 0
    past: int = 0
    mask: int = 0

    def shape(self, *xs):
        if len(xs) - self.past - self.mask != 1:
            raise ShapeError("E208", "positions takes one sequence; the past length and the "
                             "mask go by name (past=, mask=)", expected="1 input",
                             got=str(len(xs) - self.past - self.mask))
        x = xs[0]
        need_axes(x, 2, "positions")
        if self.past and self.mask:
            raise ShapeError("E205", "positions: give past= or mask=, not both (the mask "
                             "covers the past positions too)", expected="past= or mask=",
                             got="both")
        if self.past:
            p = xs[1]
            _need_ids(p, "positions' past=", 1)
            if p.rank > 1:
                raise ShapeError("E301", f"positions: past= is one length or one per row, got "
                                 f"{p}", expected=f"rank 0 or [{x.shape[0]}]",
                                 got=fmt_shape(p.shape), culprits=(1,))
            if p.rank == 1:
                _same_batch(x, p, "positions' past=", 1)
        if self.mask:
            m = xs[1]
            _need_ids(m, "positions' mask=", 1, bool_ok=True)
            need_rank(m, 2, "positions' mask=", "[N, Tm]", index=1)
            _same_batch(x, m, "positions' mask=", 1)
            short = x.shape[1] - m.shape[1]
            if short.is_const() and short.value > 0:
                raise ShapeError("E303", f"positions: the mask {fmt_shape(m.shape)} is shorter "
                                 f"than the sequence {fmt_shape(x.shape)}",
                                 expected=f"at least {x.shape[1]} columns",
                                 got=str(m.shape[1]), culprits=(1,))
        return TensorType(dtype="i64", shape=x.shape[:2])


class Positional(Op):
    """positional(max_len, encoding=learned|sinusoidal|whisper, offset=0, positions=):
    [N, T, D] -> [N, T, D], x plus rows offset .. offset+T-1 of a position table [max_len, D]
    (T + offset <= max_len; BART's learned positions start at offset=2); with `positions=` an
    integer tensor of position ids [N, T] or [1, T] (`positions` gives them), x plus the rows
    offset + ids instead. learned: weight [max_len, D], N(0, 1) as nn.Embedding. sinusoidal:
    the table of Vaswani et al., sin on even features and cos on odd ones at frequencies
    10000^(-2i/D). whisper: Whisper's sinusoids() (tensor2tensor's timing signal), sin on the
    first D/2 features and cos on the rest at frequencies 10000^(-i/(D/2 - 1)), D even and >= 4.
    The fixed tables are computed in float64 and cast (HF computes Whisper's in float32: at
    position p they differ by up to p * 7e-8: 5e-5 at p = 1000, D = 384)."""
    kind: ClassVar[str] = "positional"
    positional: ClassVar[tuple[str, ...]] = ("max_len",)
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    tensor_args: ClassVar[tuple[str, ...]] = ("positions",)
    max_len: int
    encoding: Literal["learned", "sinusoidal", "whisper"] = "learned"
    offset: int = 0
    positions: int = 0

    def shape(self, *xs):
        if len(xs) - self.positions != 1:
            raise ShapeError("E208", "positional takes one sequence [N, T, D]; position ids go "
                             "by name (positions=)", expected="1 input",
                             got=str(len(xs) - self.positions))
        x = xs[0]
        need_rank(x, 3, self.kind, "[N, T, features]")
        need_float(x, self.kind)
        d = known(x.shape[2], "the width of positional's input")
        if self.max_len < 1 or self.offset < 0:
            raise ShapeError("E205", f"positional needs max_len >= 1 and offset >= 0, got "
                             f"max_len={self.max_len}, offset={self.offset}",
                             expected="max_len >= 1, offset >= 0",
                             got=f"{self.max_len}, {self.offset}")
        if self.encoding == "whisper" and (d % 2 or d < 4):
            raise ShapeError("E305", f"positional(encoding=whisper) needs an even width of at "
                             f"least 4 (sin and cos halves, D/2 - 1 frequency steps), got {d}",
                             expected="an even width >= 4", got=str(d), culprits=(0,))
        if self.positions:
            ids = xs[1]
            _need_ids(ids, "positional's positions=", 1)
            need_rank(ids, 2, "positional's positions=", "[N, T] or [1, T]", index=1)
            if ids.shape[1] != x.shape[1] or (ids.shape[0] != 1 and ids.shape[0] != x.shape[0]):
                raise ShapeError("E302", f"positional: the position ids {fmt_shape(ids.shape)} do "
                                 f"not index the sequence {fmt_shape(x.shape)}",
                                 expected=f"[{x.shape[0]}, {x.shape[1]}] or [1, {x.shape[1]}]",
                                 got=fmt_shape(ids.shape), culprits=(1,))
            return x
        t = x.shape[1] + self.offset
        if t.is_const() and t.value > self.max_len:
            at = f" from row {self.offset}" if self.offset else ""
            raise ShapeError("E303", f"positional: {x.shape[1]} positions{at} but the table has "
                             f"{self.max_len}", expected=f"T + offset <= {self.max_len}",
                             got=str(t), culprits=(0,))
        return x

    def params(self, x, *ids):
        return {"weight": (self.max_len, x.shape[2].value)} if self.encoding == "learned" else {}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return rng.standard_normal(shape).astype(np.float32)     # as nn.Embedding

    def table(self, d: int):
        """The fixed table [max_len, d] in float64 (each backend casts it to the input's
        dtype)."""
        import numpy as np
        pos = np.arange(self.max_len, dtype=np.float64)[:, None]
        if self.encoding == "whisper":
            inv = np.exp(-math.log(10000.0) / (d // 2 - 1) * np.arange(d // 2, dtype=np.float64))
            return np.concatenate([np.sin(pos * inv), np.cos(pos * inv)], axis=1)
        div = np.exp(np.arange(0, d, 2, dtype=np.float64) * (-math.log(10000.0) / d))
        pe = np.zeros((self.max_len, d))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div)[:, : d // 2]
        return pe


class RelativeBias(Op):
    """relative_bias(heads, buckets=32, max_distance=128, bidirectional=true): T5's relative
    position bias, a value added to attention scores: (query, key) sequences [N, Tq, ...],
    [N, Tk, ...] (or one for self-attention) -> [1, heads, Tq, Tk] in the model's floating
    dtype (`dtype=`), weight [buckets, heads] (N(0, 1), as HF's nn.Embedding
    `relative_attention_bias`). Query i sits at position Tk - Tq + i (the last Tq of the keys,
    as after a cache), key j at j; the bias is weight[bucket(j - (Tk - Tq + i))], with HF's
    T5Attention._relative_position_bucket: half the buckets per direction when bidirectional
    (none for later keys otherwise), exact below half of those, then logarithmic up to
    max_distance, the last bucket beyond. The bucket of each distance in [-max_distance,
    max_distance] is computed once in float64 (distances beyond share the end buckets)."""
    kind: ClassVar[str] = "relative_bias"
    positional: ClassVar[tuple[str, ...]] = ("heads",)
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    model_dtype: ClassVar[bool] = True
    heads: int
    buckets: int = 32
    max_distance: int = 128
    bidirectional: bool = True
    dtype: FloatDType = "f32"

    def shape(self, q, k=None):
        for i, t in enumerate((q, k)[:1 if k is None else 2]):
            need_axes(t, 2, "relative_bias (sequences [N, T, ...])", index=i)
        exact = (self.buckets // 2 if self.bidirectional else self.buckets) // 2
        if self.heads < 1 or exact < 1:
            least = 4 if self.bidirectional else 2
            raise ShapeError("E205", f"relative_bias needs heads >= 1 and buckets >= {least}, got "
                             f"heads={self.heads}, buckets={self.buckets}",
                             expected=f"heads >= 1, buckets >= {least}",
                             got=f"{self.heads}, {self.buckets}")
        if not exact < self.max_distance <= 65536:
            raise ShapeError("E205", f"relative_bias: max_distance must exceed the {exact} exact "
                             f"buckets (and be at most 65536), got {self.max_distance}",
                             expected=f"{exact} < max_distance <= 65536", got=str(self.max_distance))
        tk = (k if k is not None else q).shape[1]
        return TensorType(dtype=self.dtype, shape=(Dim.of(1), Dim.of(self.heads), q.shape[1], tk))

    def params(self, *xs):
        return {"weight": (self.buckets, self.heads)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return rng.standard_normal(shape).astype(np.float32)     # as nn.Embedding

    def bucket_table(self):
        """The bucket of each relative position r = key - query in [-max_distance,
        max_distance] (index r + max_distance), int64, in float64 arithmetic."""
        import numpy as np
        r = np.arange(-self.max_distance, self.max_distance + 1, dtype=np.int64)
        n, out = self.buckets, np.zeros_like(r)
        if self.bidirectional:
            n //= 2
            out += (r > 0) * n
            r = np.abs(r)
        else:
            r = -np.minimum(r, 0)
        exact = n // 2
        ratio = np.log(np.maximum(r, exact) / exact) / math.log(self.max_distance / exact)
        large = np.minimum(exact + (ratio * (n - exact)).astype(np.int64), n - 1)
        return out + np.where(r < exact, r, large)


class WindowBias(Op):
    """window_bias(heads, window): Swin's relative position bias within a window of window x
    window tokens (or (h, w)), a value (no input) added to the windows' attention scores:
    [heads, h*w, h*w] in the model's floating dtype, entry [k, i, j] =
    relative_position_bias_table[index(i, j), k] with the parameter
    relative_position_bias_table [(2h-1)*(2w-1), heads] at HF SwinRelativePositionBias's index
    of the offset between tokens i and j (row-major in the window): (dy + h - 1) * (2w - 1) +
    dx + w - 1, a constant (HF's relative_position_index, a non-persistent buffer). HF's
    module returns it with a leading axis of 1; both broadcast against the scores
    [windows, heads, h*w, h*w]. Initialised N(0, 0.02) as HF's trunc_normal_ (cut at +-2,
    which is 100 std)."""
    kind: ClassVar[str] = "window_bias"
    positional: ClassVar[tuple[str, ...]] = ("heads", "window")
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    model_dtype: ClassVar[bool] = True
    heads: int
    window: Union[int, tuple[int, int]]
    dtype: FloatDType = "f32"

    def hw(self) -> tuple[int, int]:
        h, w = (self.window, self.window) if isinstance(self.window, int) else self.window
        if self.heads < 1 or h < 1 or w < 1:
            raise ShapeError("E205", f"window_bias needs heads >= 1 and a window >= 1, got "
                             f"heads={self.heads}, window={self.window}",
                             expected="heads >= 1, window >= 1", got=f"{self.heads}, {self.window}")
        return h, w

    def shape(self):
        h, w = self.hw()
        return TensorType(dtype=self.dtype, shape=tuple(Dim.of(v) for v in (self.heads, h * w, h * w)))

    def params(self):
        h, w = self.hw()
        return {"relative_position_bias_table": ((2 * h - 1) * (2 * w - 1), self.heads)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)

    def relative_index(self):
        """[h*w, h*w] int64: the table row of each pair of tokens (HF's relative_position_index)."""
        import numpy as np
        h, w = self.hw()
        ys, xs = np.divmod(np.arange(h * w), w)
        dy = ys[:, None] - ys[None, :] + h - 1
        dx = xs[:, None] - xs[None, :] + w - 1
        return (dy * (2 * w - 1) + dx).astype(np.int64)


class Roll(Op):
    """roll(shifts, axis=None): torch.roll. Along each axis of `axis` (an int or a tuple, one
    shift each) element i moves to (i + shift) mod size, so a negative shift rolls back; with
    no axis the tensor is rolled flattened and keeps its shape. Sizes may be symbolic (the
    shift is taken modulo the size at run time). Any dtype."""
    kind: ClassVar[str] = "roll"
    positional: ClassVar[tuple[str, ...]] = ("shifts", "axis")
    shifts: Union[int, tuple[int, ...]]
    axis: Optional[Union[int, tuple[int, ...]]] = None

    def plan(self, x) -> list[tuple[int | None, int]]:
        """[(axis, shift)]: axis None for the flattened roll."""
        shifts = (self.shifts,) if isinstance(self.shifts, int) else tuple(self.shifts)
        if self.axis is None:
            if len(shifts) != 1:
                raise ShapeError("E205", f"roll: {len(shifts)} shifts but no axis: the flattened "
                                 "roll takes one shift", expected="one shift, or axis=",
                                 got=str(self.shifts))
            return [(None, shifts[0])]
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        if len(axes) != len(shifts) or not axes:
            raise ShapeError("E205", f"roll: {len(shifts)} shift(s) for {len(axes)} axes",
                             expected="one shift per axis", got=f"shifts={self.shifts}, "
                             f"axis={self.axis}")
        return [(axis_index(a, x.rank, "roll"), s) for a, s in zip(axes, shifts)]

    def shape(self, x):
        need_axes(x, 1, "roll")
        self.plan(x)
        return x


def _windows_along(d: Dim, ws: int, what: str, name: str) -> Dim:
    """d / ws, an exact division (E305 otherwise, with the `where` fact that makes it one)."""
    q = d // ws
    if q * ws != d:
        cond = None if d.is_const() else condition_for_equal(q * ws, d)
        raise ShapeError("E305", f"{what}: the {name} {d} is not a multiple of the window {ws}"
                         + (f" (it is when {cond})" if cond else ""),
                         expected=f"a multiple of {ws}", got=str(d), culprits=(0,),
                         help=f"declare it on the input: `where {cond}`" if cond else
                              f"pad it to a multiple of {ws} first (Swin pads at the end)",
                         requires=(cond,) if cond else ())
    return q


def _need_window(ws: int, what: str) -> None:
    if ws < 1:
        raise ShapeError("E205", f"{what}: the window must be >= 1, got {ws}",
                         expected="window >= 1", got=str(ws))


class WindowPartition(Op):
    """window_partition(window): Swin's window partition, [N, H, W, C] -> [N*(H/w)*(W/w), w*w, C]:
    the image cut into w x w windows (row-major: all of image 0's windows first), each window's
    tokens row-major. H and W must be multiples of w: known, or by a `where H % w == 0` fact
    on the input (E305 otherwise)."""
    kind: ClassVar[str] = "window_partition"
    positional: ClassVar[tuple[str, ...]] = ("window",)
    window: int

    def shape(self, x):
        need_rank(x, 4, self.kind, "[N, H, W, C]")
        _need_window(self.window, self.kind)
        n, h, w, c = x.shape
        hq = _windows_along(h, self.window, self.kind, "height")
        wq = _windows_along(w, self.window, self.kind, "width")
        return x.with_shape((n * hq * wq, Dim.of(self.window * self.window), c))


class WindowMerge(Op):
    """window_merge(window, height, width): the inverse of window_partition, [B, w*w, C] ->
    [N, height, width, C] with N = B / ((height/w) * (width/w)) (B must be N windows per image,
    as window_partition made it: E304 when that cannot be told from its size). height and width
    may be model sizes (`window_merge(7, H, W)`), read at run time from an input that has them
    as dims (the elaborator appends one); multiples of w as in window_partition."""
    kind: ClassVar[str] = "window_merge"
    positional: ClassVar[tuple[str, ...]] = ("window", "height", "width")
    window: int
    height: Size
    width: Size

    def grid(self) -> tuple[Dim, Dim]:
        """(height/w, width/w)."""
        _need_window(self.window, self.kind)
        return (_windows_along(Dim.of(self.height), self.window, self.kind, "height"),
                _windows_along(Dim.of(self.width), self.window, self.kind, "width"))

    def shape(self, x, *carriers):
        from .layout import _quotient
        need_rank(x, 3, self.kind, "[windows, w*w, C]")
        hq, wq = self.grid()
        if x.shape[1] != self.window * self.window:
            raise ShapeError("E302", f"window_merge: {x.shape[1]} tokens per window, but a "
                             f"{self.window}x{self.window} window has {self.window ** 2}",
                             expected=str(self.window ** 2), got=str(x.shape[1]), culprits=(0,))
        per = hq * wq
        n = _quotient(x.shape[0], per)
        if n is None or n * per != x.shape[0] or (n.is_const() and n.value < 1):
            known_sizes = x.shape[0].is_const() and per.is_const()
            raise ShapeError("E305" if known_sizes else "E304",
                             f"window_merge: {x.shape[0]} windows are not a whole number of "
                             f"images of {per} windows ({self.height}x{self.width} in "
                             f"{self.window}x{self.window} windows)",
                             expected=f"a multiple of {per}", got=str(x.shape[0]), culprits=(0,),
                             help="merge the windows window_partition made, with the height "
                                  "and width it cut")
        return x.with_shape((n, Dim.of(self.height), Dim.of(self.width), x.shape[2]))

    def runtime_sizes(self, xs, ys):
        return tuple(d for d in map(Dim.of, (self.height, self.width)) if not d.is_const())

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"window_merge({self.window}, {self.height}, {self.width})"


OPS = (Arange, Positions, Positional, RelativeBias, WindowBias, Roll, WindowPartition,
       WindowMerge)
