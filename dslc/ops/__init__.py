"""The op registry. `ALL_OPS` is the index of ops: adding an op = write its class, list it here,
add a row to the op table test (tests/test_ops_table.py)."""
from __future__ import annotations

from .activation import (ELU, GELU, LeakyReLU, LogSoftmax, PReLU, ReLU, ReLU6, SELU, Hardtanh,
                         Sigmoid, SiLU, Softmax, Softplus, Step, Tanh)
from .base import Op, ShapeError, Unsupported
from .combine import Add, Concat, Mul, Split
from .linear import Dense
from . import attention, convolution, layout, normalization, pooling, recurrent, resample, scan

ALL_OPS: tuple[type[Op], ...] = (
    Dense,
    ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, GELU, Sigmoid, SiLU, Tanh, Hardtanh, Softplus, Step,
    Softmax, LogSoftmax,
    Add, Mul, Concat, Split,
    *convolution.OPS, *pooling.OPS, *layout.OPS, *normalization.OPS, *resample.OPS,
    *recurrent.OPS, *scan.OPS, *attention.OPS,
)

OPS: dict[str, type[Op]] = {op.kind: op for op in ALL_OPS}

__all__ = ["ALL_OPS", "OPS", "Op", "ShapeError", "Unsupported"]
