"""Normalisation layers. BatchNorm's running statistics are buffers, never parameters."""
from __future__ import annotations

from typing import ClassVar, Optional, Union

from ..ir.dims import fmt_shape
from .base import Op, ShapeError, known, need_axes, need_float, need_rank, variant


class _BatchNorm(Op):
    """batchnorm (by rank: [N, C] or [N, C, L] 1d, [N, C, H, W] 2d, [N, C, D, H, W] 3d):
    output shape = input shape; weight, bias [C]; buffers running_mean, running_var [C]."""
    n: ClassVar[int] = 0
    precise: ClassVar[bool] = True
    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True
    track_running_stats: bool = True

    def shape(self, x):
        ranks = {0: (2, 3, 4, 5), 1: (2, 3), 2: (4,), 3: (5,)}[self.n]
        layout = {0: "[N, C, ...]", 1: "[N, C] or [N, C, L]", 2: "[N, C, H, W]",
                  3: "[N, C, D, H, W]"}[self.n]
        need_rank(x, ranks, self.kind, layout)
        need_float(x, self.kind)
        known(x.shape[1], f"the channel count of {self.kind}")
        return x

    def params(self, x):
        c = x.shape[1].value
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def buffers(self, x):
        c = x.shape[1].value
        return {"running_mean": (c,), "running_var": (c,)} if self.track_running_stats else {}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.full(shape, 1.0 if name in ("weight", "running_var") else 0.0, dtype=np.float32)


class LayerNorm(Op):
    """layernorm(normalized_shape=last dim): output shape = input shape; normalises over the
    trailing dims, which must equal normalized_shape; weight and bias of that shape."""
    kind: ClassVar[str] = "layernorm"
    positional: ClassVar[tuple[str, ...]] = ("normalized_shape",)
    precise: ClassVar[bool] = True
    normalized_shape: Optional[Union[int, tuple[int, ...]]] = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def dims(self, x) -> tuple[int, ...]:
        if self.normalized_shape is None:
            need_axes(x, 1, "layernorm")
            return (known(x.shape[-1], "the last dim of layernorm's input"),)
        ns = self.normalized_shape if isinstance(self.normalized_shape, tuple) else (self.normalized_shape,)
        tail = x.shape[x.rank - len(ns):] if len(ns) <= x.rank else None
        if tail is None or any(t != n for t, n in zip(tail, ns)):
            raise ShapeError("E302", f"layernorm over {list(ns)} needs the input to end in those "
                             f"sizes, got {fmt_shape(x.shape)}", expected=f"[..., {', '.join(map(str, ns))}]",
                             got=fmt_shape(x.shape), culprits=(0,))
        return ns

    def shape(self, x):
        need_float(x, self.kind)
        self.dims(x)
        return x

    def params(self, x):
        if not self.elementwise_affine:
            return {}
        ns = self.dims(x)
        return {"weight": ns, "bias": ns} if self.bias else {"weight": ns}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.full(shape, 1.0 if name == "weight" else 0.0, dtype=np.float32)


class Dropout(Op):
    """dropout(p=0.5): output shape = input shape; identity in inference graphs."""
    kind: ClassVar[str] = "dropout"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    shown: ClassVar[tuple[str, ...]] = ("p",)
    p: float = 0.5

    def shape(self, x):
        if not 0 <= self.p < 1:
            raise ShapeError("E205", f"dropout probability must be in [0, 1), got {self.p}",
                             expected="0 <= p < 1", got=str(self.p))
        return x


OPS = (*(variant(_BatchNorm, "batchnorm" + (f"{n}d" if n else ""), n=n) for n in (0, 1, 2, 3)),
       LayerNorm, Dropout)
