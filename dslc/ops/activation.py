"""Elementwise activations and softmax. Shape rule for all: output shape == input shape."""
from __future__ import annotations

from typing import ClassVar, Literal

from ..ir.dims import Dim
from .base import Op, axis_index, known, need_float, need_rank


class Elementwise(Op):
    """An op applied to each element on its own: output shape == input shape."""

    def shape(self, x):
        need_float(x, self.kind)
        return x

    def macs(self, xs, ys):
        """0: elementwise, no contraction."""
        return Dim.of(0)


class _Simple(Elementwise):
    """An activation with one torch module and one ONNX op, no attributes."""
    torch_name: ClassVar[str]
    onnx_type: ClassVar[str]

    def torch(self, node):
        from torch import nn
        return getattr(nn, self.torch_name)()

    def onnx(self, b, node, ins, outs):
        b.node(self.onnx_type, ins, outs, name=node.name)


class ReLU(_Simple):
    """relu: max(x, 0) elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "relu"
    torch_name: ClassVar[str] = "ReLU"
    onnx_type: ClassVar[str] = "Relu"


class Sigmoid(_Simple):
    """sigmoid: 1 / (1 + exp(-x)) elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "sigmoid"
    torch_name: ClassVar[str] = "Sigmoid"
    onnx_type: ClassVar[str] = "Sigmoid"


class SiLU(_Simple):
    """silu (swish): x * sigmoid(x); LLaMA's SwiGLU gate."""
    kind: ClassVar[str] = "silu"
    torch_name: ClassVar[str] = "SiLU"

    def onnx(self, b, node, ins, outs):
        sig = b.node("Sigmoid", ins, name=f"{node.name}.sigmoid")[0]
        b.node("Mul", [ins[0], sig], outs, name=node.name)


class Tanh(_Simple):
    """tanh elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "tanh"
    torch_name: ClassVar[str] = "Tanh"
    onnx_type: ClassVar[str] = "Tanh"


class SELU(Elementwise):
    """selu: the fixed constants of Klambauer et al. (alpha 1.6733, scale 1.0507), as 002 gives."""
    kind: ClassVar[str] = "selu"

    def torch(self, node):
        from torch import nn
        return nn.SELU()

    def onnx(self, b, node, ins, outs):
        # ONNX's defaults are float32 roundings of the same constants torch uses.
        b.node("Selu", ins, outs, name=node.name)


class ReLU6(Elementwise):
    """relu6: min(max(x, 0), 6) elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "relu6"

    def torch(self, node):
        from torch import nn
        return nn.ReLU6()

    def onnx(self, b, node, ins, outs):
        dt = node.in_types[0].dtype
        b.node("Clip", [ins[0], b.scalar(0.0, dt, "zero"), b.scalar(6.0, dt, "six")], outs,
               name=node.name)


class LeakyReLU(Elementwise):
    """leaky_relu(negative_slope=0.01): x, or negative_slope * x where x < 0; output shape ==
    input shape (floating point)."""
    kind: ClassVar[str] = "leaky_relu"
    positional: ClassVar[tuple[str, ...]] = ("negative_slope",)
    shown: ClassVar[tuple[str, ...]] = ("negative_slope",)
    negative_slope: float = 0.01

    def torch(self, node):
        from torch import nn
        return nn.LeakyReLU(self.negative_slope)

    def onnx(self, b, node, ins, outs):
        b.node("LeakyRelu", ins, outs, name=node.name, alpha=float(self.negative_slope))


class ELU(Elementwise):
    """elu(alpha=1): x, or alpha * (exp(x) - 1) where x <= 0; output shape == input shape
    (floating point)."""
    kind: ClassVar[str] = "elu"
    positional: ClassVar[tuple[str, ...]] = ("alpha",)
    alpha: float = 1.0

    def torch(self, node):
        from torch import nn
        return nn.ELU(self.alpha)

    def onnx(self, b, node, ins, outs):
        b.node("Elu", ins, outs, name=node.name, alpha=float(self.alpha))


class GELU(Elementwise):
    """gelu is exact (erf); gelu(approximate=tanh) is the tanh formula of 002."""
    kind: ClassVar[str] = "gelu"
    positional: ClassVar[tuple[str, ...]] = ("approximate",)
    approximate: Literal["none", "tanh"] = "none"

    def torch(self, node):
        from torch import nn
        return nn.GELU(approximate=self.approximate)

    def onnx(self, b, node, ins, outs):
        b.node("Gelu", ins, outs, name=node.name, approximate=self.approximate)


class Hardtanh(Elementwise):
    """hardtanh(min_val=-1, max_val=1): x clamped to [min_val, max_val] (min_val < max_val, else
    E205); output shape == input shape (floating point)."""
    kind: ClassVar[str] = "hardtanh"
    positional: ClassVar[tuple[str, ...]] = ("min_val", "max_val")
    min_val: float = -1.0
    max_val: float = 1.0

    def shape(self, x):
        if self.min_val >= self.max_val:
            from .base import ShapeError
            raise ShapeError("E205", f"hardtanh needs min_val < max_val, got {self.min_val} and "
                             f"{self.max_val}")
        return super().shape(x)

    def torch(self, node):
        from torch import nn
        return nn.Hardtanh(self.min_val, self.max_val)

    def onnx(self, b, node, ins, outs):
        dt = node.in_types[0].dtype
        b.node("Clip", [ins[0], b.scalar(self.min_val, dt, "min"), b.scalar(self.max_val, dt, "max")],
               outs, name=node.name)


class Softplus(Elementwise):
    """softplus(beta, threshold): log(1 + exp(beta x)) / beta, and x where beta x > threshold."""
    kind: ClassVar[str] = "softplus"
    positional: ClassVar[tuple[str, ...]] = ("beta", "threshold")
    beta: float = 1.0
    threshold: float = 20.0

    def torch(self, node):
        from torch import nn
        return nn.Softplus(self.beta, self.threshold)

    def onnx(self, b, node, ins, outs):
        n, dt = node.name, node.in_types[0].dtype
        bx = b.node("Mul", [ins[0], b.scalar(self.beta, dt, "beta")], name=f"{n}.scale")[0]
        sp = b.node("Softplus", [bx], name=f"{n}.softplus")[0]
        soft = b.node("Div", [sp, b.scalar(self.beta, dt, "beta")], name=f"{n}.unscale")[0]
        big = b.node("Greater", [bx, b.scalar(self.threshold, dt, "threshold")], name=f"{n}.linear")[0]
        b.node("Where", [big, ins[0], soft], outs, name=n)


class Step(Elementwise):
    """step (Heaviside, as 002 defines it): 1 where x >= 0, else 0."""
    kind: ClassVar[str] = "step"

    def torch(self, node):
        from ..backends.torch.modules import Step
        return Step()

    def onnx(self, b, node, ins, outs):
        ge = b.node("GreaterOrEqual", [ins[0], b.scalar(0.0, node.in_types[0].dtype, "zero")],
                    name=f"{node.name}.ge")[0]
        b.node("Cast", [ge], outs, name=node.name, to=_onnx_dtype(node.out_types[0].dtype))


class PReLU(Elementwise):
    """prelu(num_parameters=1): max(x, 0) + weight * min(x, 0); weight [num_parameters], one
    slope, or one per channel (axis 1); slopes start at init_value."""
    kind: ClassVar[str] = "prelu"
    positional: ClassVar[tuple[str, ...]] = ("num_parameters",)
    num_parameters: int = 1
    init_value: float = 0.25

    def shape(self, x):
        if self.num_parameters != 1:
            need_rank(x, range(2, 9), "prelu with per-channel slopes", "[N, C, ...]")
            c = known(x.shape[1], "the channel count of prelu")
            if c != self.num_parameters:
                from .base import ShapeError
                raise ShapeError("E302", f"prelu has {self.num_parameters} slopes but the input has "
                                 f"{c} channels", expected=f"{self.num_parameters} channels",
                                 got=str(x.shape[1]), culprits=(0,))
        return super().shape(x)

    def params(self, x):
        return {"weight": (self.num_parameters,)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return np.full(shape, self.init_value, dtype=np.float32)

    def torch(self, node):
        from torch import nn
        return nn.PReLU(self.num_parameters, self.init_value)

    def onnx(self, b, node, ins, outs):
        w = b.param(node, "weight")
        rank = node.in_types[0].rank
        if self.num_parameters != 1 and rank > 2:   # broadcast [C] over [N, C, *spatial]
            w = b.node("Reshape", [w, b.ints([self.num_parameters] + [1] * (rank - 2))],
                       name=f"{node.name}.slope")[0]
        b.node("PRelu", [ins[0], w], outs, name=node.name)


class Softmax(Elementwise):
    """softmax(axis=-1): exp(x) / sum(exp(x)) along `axis` (a valid axis of the input); output
    shape == input shape (floating point)."""
    kind: ClassVar[str] = "softmax"
    positional: ClassVar[tuple[str, ...]] = ("axis",)
    onnx_type: ClassVar[str] = "Softmax"
    precise: ClassVar[bool] = True
    axis: int = -1

    def shape(self, x):
        axis_index(self.axis, x.rank, self.kind)
        return super().shape(x)

    def torch(self, node):
        from torch import nn
        return (nn.Softmax if self.kind == "softmax" else nn.LogSoftmax)(dim=self.axis)

    def onnx(self, b, node, ins, outs):
        b.node(self.onnx_type, ins, outs, name=node.name, axis=self.axis)


class LogSoftmax(Softmax):
    """log_softmax(axis=-1): log(softmax(x)) along `axis`; output shape == input shape
    (floating point)."""
    kind: ClassVar[str] = "log_softmax"
    onnx_type: ClassVar[str] = "LogSoftmax"


class Maxout(Op):
    """maxout(k): [N, ..., F] -> [N, ..., F / k]; output unit j is the max of the k consecutive
    features j*k .. j*k + k - 1 (Goodfellow et al.: z split into groups of k, the largest of
    each group), as torch's x.view(..., F // k, k).amax(-1). F must be divisible by k (E305);
    leading dims may be symbolic (a symbolic F needs `where F % k == 0`). Floating-point inputs,
    no parameters, 0 MACs. Lowered as a reshape to [N, ..., F / k, k] (layout.reshape_plan:
    leading dims copied at run time) and a max over the last axis (ONNX Reshape + ReduceMax)."""
    kind: ClassVar[str] = "maxout"
    positional: ClassVar[tuple[str, ...]] = ("k",)
    k: int

    def shape(self, x):
        from .base import ShapeError
        need_rank(x, range(2, 9), "maxout", "[N, ..., features]")
        need_float(x, "maxout")
        if self.k < 1:
            raise ShapeError("E205", f"maxout needs k >= 1 pieces per unit, got {self.k}",
                             expected="k >= 1", got=str(self.k))
        f = x.shape[-1]
        units = f // self.k
        if units * self.k != f:
            width = f"F = {f} is not divisible" if f.is_const() else f"F = `{f}` is not known " \
                "to be divisible"
            raise ShapeError("E305", f"maxout({self.k}): the feature width {width} by k = "
                             f"{self.k}", expected=f"a multiple of {self.k} features",
                             got=f"F = {f}", culprits=(0,),
                             help=f"give the layer before it a multiple of {self.k} outputs"
                             if f.is_const() else f"declare it on the input: `where {f} % "
                             f"{self.k} == 0`")
        return x.with_shape(x.shape[:-1] + (units,))

    def macs(self, xs, ys):
        """0: a max over groups, no contraction."""
        return Dim.of(0)

    def _plan(self, node):
        from .layout import reshape_plan
        src = node.in_types[0].shape
        return reshape_plan(src, node.out_types[0].shape + (Dim.of(self.k),))

    def torch(self, node):
        from torch import nn

        from ..backends.torch.modules import Reshape
        from ..backends.torch.reduce import Reduce
        rank = node.in_types[0].rank
        return nn.Sequential(Reshape(self._plan(node)), Reduce("amax", (rank,), False))

    def onnx(self, b, node, ins, outs):
        from ..backends.onnx.lowering import shape_tensor
        pieces = b.node("Reshape", [ins[0], shape_tensor(b, node, ins[0], self._plan(node))],
                        name=f"{node.name}.pieces")[0]
        b.node("ReduceMax", [pieces, b.ints([-1])], outs, name=node.name, keepdims=0)


def _onnx_dtype(dtype: str) -> int:
    from ..backends.onnx.builder import onnx_dtype
    return onnx_dtype(dtype)


OPS = (ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, GELU, Sigmoid, SiLU, Tanh, Hardtanh, Softplus,
       Step, Softmax, LogSoftmax, Maxout)
