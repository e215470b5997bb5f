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

    def torch(self, node):
        from torch import nn
        x = node.in_types[0]
        n = {2: 1, 3: 1, 4: 2, 5: 3}[x.rank]
        return getattr(nn, f"BatchNorm{n}d")(x.shape[1].value, self.eps, self.momentum,
                                             self.affine, self.track_running_stats)

    def onnx(self, b, node, ins, outs):
        import numpy as np

        from ..backends.onnx.builder import np_dtype
        n, x = node.name, node.in_types[0]
        c = x.shape[1].value
        dt = np_dtype(node.param_dtype)
        w, bias = ((b.param(node, "weight"), b.param(node, "bias")) if self.affine
                   else (b.const(np.ones(c, dt), "ones"), b.const(np.zeros(c, dt), "zeros")))
        if self.track_running_stats:
            mean, var = b.param(node, "running_mean"), b.param(node, "running_var")
        else:
            # Without running statistics torch normalises by the batch's own statistics even
            # in eval(): the mean and the biased variance over every axis but the channels,
            # fed to the inference-mode operator in place of running ones.
            axes = b.ints([0] + list(range(2, x.rank)))
            kept = b.node("ReduceMean", [ins[0], axes], name=f"{n}.mean", keepdims=1)[0]
            dev = b.node("Sub", [ins[0], kept], name=f"{n}.dev")[0]
            sq = b.node("Mul", [dev, dev], name=f"{n}.sq")[0]
            var = b.node("ReduceMean", [sq, axes], name=f"{n}.var", keepdims=0)[0]
            mean = b.node("Squeeze", [kept, axes], name=f"{n}.mean")[0]
        b.node("BatchNormalization", [ins[0], w, bias, mean, var], outs, name=n, epsilon=self.eps)


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

    def torch(self, node):
        from torch import nn
        return nn.LayerNorm(self.dims(node.in_types[0]), self.eps, self.elementwise_affine,
                            bias=self.bias)

    def onnx(self, b, node, ins, outs):
        import numpy as np

        from ..backends.onnx.builder import np_dtype
        ns = self.dims(node.in_types[0])
        p = self.params(node.in_types[0])
        w = b.param(node, "weight") if "weight" in p else \
            b.const(np.ones(ns, np_dtype(node.param_dtype)), "ones")
        inputs = [ins[0], w] + ([b.param(node, "bias")] if "bias" in p else [])
        b.node("LayerNormalization", inputs, outs, name=node.name, axis=-len(ns), epsilon=self.eps)


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

    def torch(self, node):
        from torch import nn
        return nn.Dropout(self.p)

    def onnx(self, b, node, ins, outs):
        b.node("Identity", ins, outs, name=node.name)


OPS = (*(variant(_BatchNorm, "batchnorm" + (f"{n}d" if n else ""), n=n) for n in (0, 1, 2, 3)),
       LayerNorm, Dropout)
