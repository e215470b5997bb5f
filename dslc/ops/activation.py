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


class QuickGELU(Elementwise):
    """quick_gelu: x * sigmoid(1.702 x), elementwise (CLIP's approximation of gelu); output
    shape == input shape (floating point)."""
    kind: ClassVar[str] = "quick_gelu"


class Tanh(_Simple):
    """tanh elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "tanh"
    torch_name: ClassVar[str] = "Tanh"
    onnx_type: ClassVar[str] = "Tanh"


class SELU(Elementwise):
    """selu: the fixed constants of Klambauer et al. (alpha 1.6733, scale 1.0507), as 002 gives."""
    kind: ClassVar[str] = "selu"


class ReLU6(Elementwise):
    """relu6: min(max(x, 0), 6) elementwise; output shape == input shape (floating point)."""
    kind: ClassVar[str] = "relu6"


class LeakyReLU(Elementwise):
    """leaky_relu(negative_slope=0.01): x, or negative_slope * x where x < 0; output shape ==
    input shape (floating point)."""
    kind: ClassVar[str] = "leaky_relu"
    positional: ClassVar[tuple[str, ...]] = ("negative_slope",)
    shown: ClassVar[tuple[str, ...]] = ("negative_slope",)
    negative_slope: float = 0.01


class ELU(Elementwise):
    """elu(alpha=1): x, or alpha * (exp(x) - 1) where x <= 0; output shape == input shape
    (floating point)."""
    kind: ClassVar[str] = "elu"
    positional: ClassVar[tuple[str, ...]] = ("alpha",)
    alpha: float = 1.0


class GELU(Elementwise):
    """gelu is exact (erf); gelu(approximate=tanh) is the tanh formula of 002."""
    kind: ClassVar[str] = "gelu"
    positional: ClassVar[tuple[str, ...]] = ("approximate",)
    approximate: Literal["none", "tanh"] = "none"


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


class Softplus(Elementwise):
    """softplus(beta, threshold): log(1 + exp(beta x)) / beta, and x where beta x > threshold."""
    kind: ClassVar[str] = "softplus"
    positional: ClassVar[tuple[str, ...]] = ("beta", "threshold")
    beta: float = 1.0
    threshold: float = 20.0

    def shape(self, x):
        if self.beta == 0:
            from .base import ShapeError
            raise ShapeError("E205", "softplus: beta must not be 0 (the result is divided by it)",
                             expected="beta != 0", got="0")
        return super().shape(x)


class Step(Elementwise):
    """step (Heaviside, as 002 defines it): 1 where x >= 0, else 0."""
    kind: ClassVar[str] = "step"


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


OPS = (ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, GELU, Sigmoid, SiLU, QuickGELU, Tanh, Hardtanh,
       Softplus, Step, Softmax, LogSoftmax, Maxout)
