"""Tensors that come from no input data: free learned parameters and noise.

Noise is never silently random in an exported graph. `randn_like(x)` samples (from a generator
seeded by dslc) only in torch's training mode; in eval mode and in ONNX it is its mean, as
dropout is the identity there. `randn_like(x, noise=input)` takes its noise from a model input
of its own (named `<layer>_noise`, after the declared inputs), in both backends and both modes:
parity tests and deployments feed the same noise."""
from __future__ import annotations

from typing import ClassVar, Literal

from ..ir.dims import Dim
from .base import Op, ShapeError, need_float


class Param(Op):
    """param(size, init=...): a learned tensor that is no layer's (Set Transformer inducing
    points [m, d], RBF centres, a temperature): output and parameter `weight` of shape `size`
    (known sizes), in the model's floating dtype. Counted, named (`name=`), tied and frozen
    like any layer's; broadcast against the batch where used. torch has no default for a free
    nn.Parameter: dslc draws xavier_uniform for rank >= 2 (the Set Transformer's choice) and
    zeros below; `init=` says otherwise."""
    kind: ClassVar[str] = "param"
    positional: ClassVar[tuple[str, ...]] = ("size",)
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    model_dtype: ClassVar[bool] = True     # `dtype` defaults to the model's floating dtype
    size: tuple[int, ...]
    dtype: Literal["f16", "bf16", "f32", "f64"] = "f32"

    def shape(self):
        if not self.size or any(d < 1 for d in self.size):
            raise ShapeError("E205", f"param needs sizes >= 1, got {list(self.size)}",
                             expected="e.g. param([16, 64])", got=str(list(self.size)))
        from ..ir.core import TensorType
        return TensorType(dtype=self.dtype, shape=tuple(Dim.of(d) for d in self.size))

    def params(self):
        return {"weight": tuple(self.size)}

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"param({list(self.size)})"

    def init(self, name, shape, xs, rng):
        import numpy as np
        if len(shape) < 2:
            return np.zeros(shape, np.float32)
        from ..passes.weights import draw
        return draw({"fn": "xavier_uniform", "gain": 1.0}, shape, rng)


class _Noise(Op):
    """Shared by the noise ops: the output is like the input; `noise=input` adds one."""
    arity: ClassVar[tuple[int, int | None]] = (1, 2)
    noise: Literal["generator", "input"] = "generator"

    def noise_type(self, x):
        """The type of the noise input (`noise=input`)."""
        return x

    def shape(self, x, noise=None):
        need_float(x, self.kind)
        if noise is not None and noise != self.noise_type(x):
            raise ShapeError("E302", f"{self.kind}: the noise is {noise}, expected "
                             f"{self.noise_type(x)}", expected=str(self.noise_type(x)),
                             got=str(noise), culprits=(1,))
        return x


class RandnLike(_Noise):
    """randn_like(x, noise=generator|input): standard normal noise shaped like x (a floating
    tensor); its mean (zeros) in eval mode and ONNX unless noise=input."""
    kind: ClassVar[str] = "randn_like"
    mean: ClassVar[float] = 0.0


class RandLike(_Noise):
    """rand_like(x, noise=generator|input): uniform noise on [0, 1) shaped like x; its mean
    (0.5) in eval mode and ONNX unless noise=input."""
    kind: ClassVar[str] = "rand_like"
    mean: ClassVar[float] = 0.5


class Bernoulli(_Noise):
    """bernoulli(p, noise=generator|input): 1 with probability p, else 0, shaped and typed
    like p (probabilities in [0, 1]); its mean, p itself, in eval mode and ONNX unless
    noise=input, where the noise is uniform u on [0, 1) like p and the sample is u < p."""
    kind: ClassVar[str] = "bernoulli"


OPS = (Param, RandnLike, RandLike, Bernoulli)
