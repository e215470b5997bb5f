"""Normalisation layers. BatchNorm's running statistics are buffers, never parameters."""
from __future__ import annotations

from typing import ClassVar, Optional, Union

from ..ir.dims import fmt_shape
from .base import Op, ShapeError, axis_index, known, need_axes, need_float, need_rank, variant


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
    trailing dims, which must equal normalized_shape; weight and bias of that shape.
    layernorm(axis=1): over that one axis instead (channels first, as ConvNeXt's LayerNorm on
    [N, C, H, W]): weight and bias [C], broadcast over the other axes."""
    kind: ClassVar[str] = "layernorm"
    positional: ClassVar[tuple[str, ...]] = ("normalized_shape",)
    precise: ClassVar[bool] = True
    normalized_shape: Optional[Union[int, tuple[int, ...]]] = None
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True
    axis: Optional[int] = None

    def dims(self, x) -> tuple[int, ...]:
        if self.axis is not None:
            if self.normalized_shape is not None:
                raise ShapeError("E205", "layernorm takes normalized_shape or axis, not both",
                                 help="`axis=1` normalises over that one axis (channels first)")
            return (known(x.shape[self.channel_axis(x)], "the normalised axis of layernorm"),)
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

    def channel_axis(self, x) -> int:
        """`axis` as a non-negative index (only with `axis=`)."""
        return axis_index(self.axis, x.rank, "layernorm")

    def over_last(self, x) -> bool:
        """Whether it normalises trailing dims (torch's LayerNorm, ONNX LayerNormalization)."""
        return self.axis is None or self.channel_axis(x) == x.rank - 1

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


class _ChannelAffine(Op):
    """A normalisation whose affine (its `affine` field) is weight and bias [C], C = axis 1."""

    def params(self, x):
        c = x.shape[1].value
        return {"weight": (c,), "bias": (c,)} if self.affine else {}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.full(shape, 1.0 if name == "weight" else 0.0, dtype=np.float32)


class GroupNorm(_ChannelAffine):
    """groupnorm(num_groups): [N, C, *] -> the same shape; the C channels in num_groups groups
    of C/num_groups, each normalised over its channels and all positions (torch.nn.GroupNorm);
    num_groups divides C (E305). weight and bias [C] (affine=true)."""
    kind: ClassVar[str] = "groupnorm"
    positional: ClassVar[tuple[str, ...]] = ("num_groups",)
    shown: ClassVar[tuple[str, ...]] = ("num_groups",)
    precise: ClassVar[bool] = True
    num_groups: int
    eps: float = 1e-5
    affine: bool = True

    def shape(self, x):
        need_axes(x, 2, self.kind)
        need_float(x, self.kind)
        c = known(x.shape[1], f"the channel count of {self.kind}")
        if self.num_groups < 1 or c % self.num_groups:
            raise ShapeError("E305", f"groupnorm: {self.num_groups} groups do not divide the "
                             f"{c} channels", expected=f"a divisor of {c}",
                             got=str(self.num_groups), culprits=(0,),
                             help="choose a number of groups that divides the channels")
        return x


class InstanceNorm(_ChannelAffine):
    """instancenorm: [N, C, *S] (at least one spatial axis) -> the same shape; each channel of
    each example normalised over its positions (torch.nn.InstanceNorm1d/2d/3d, which keep no
    running statistics here). weight and bias [C] with affine=true (torch's default: false)."""
    kind: ClassVar[str] = "instancenorm"
    precise: ClassVar[bool] = True
    eps: float = 1e-5
    affine: bool = False

    def shape(self, x):
        need_rank(x, (3, 4, 5), self.kind, "[N, C, L], [N, C, H, W] or [N, C, D, H, W]")
        need_float(x, self.kind)
        known(x.shape[1], f"the channel count of {self.kind}")
        return x


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
        need_float(x, "dropout")
        return x


class DropPath(Op):
    """drop_path(p): stochastic depth; output shape = input shape. In training each example
    (the first axis) is dropped whole with probability p and the kept ones scaled by 1/(1-p);
    identity in inference graphs (eval mode, ONNX)."""
    kind: ClassVar[str] = "drop_path"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    shown: ClassVar[tuple[str, ...]] = ("p",)
    p: float = 0.0

    def shape(self, x):
        if not 0 <= self.p < 1:
            raise ShapeError("E205", f"drop_path probability must be in [0, 1), got {self.p}",
                             expected="0 <= p < 1", got=str(self.p))
        need_axes(x, 1, self.kind)
        need_float(x, "drop_path")
        return x


OPS = (*(variant(_BatchNorm, "batchnorm" + (f"{n}d" if n else ""), n=n) for n in (0, 1, 2, 3)),
       LayerNorm, GroupNorm, InstanceNorm, Dropout, DropPath)
