"""torch modules for the elementwise functions (dslc/ops/elementwise.py) that torch.nn has no
module for. Imported only by those ops' lowerings, so the core never imports torch."""
from __future__ import annotations

import torch
from torch import nn
from ...ops.elementwise import Cast as CastOp, Clamp as ClampOp, _Function
from .table import lowering

# IR dtype -> torch dtype
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32,
          "f64": torch.float64, "i8": torch.int8, "i32": torch.int32, "i64": torch.int64,
          "u8": torch.uint8, "bool": torch.bool}


class Function(nn.Module):
    """A torch function of one tensor, named by its dotted path under `torch`: `exp`,
    `nn.functional.mish`."""

    def __init__(self, path: str):
        super().__init__()
        fn = torch
        for part in path.split("."):
            fn = getattr(fn, part)
        self.path, self.fn = path, fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.path


class Clamp(nn.Module):
    """torch.clamp(x, min, max); either bound may be None."""

    def __init__(self, min=None, max=None):
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x):
        return torch.clamp(x, self.min, self.max)

    def extra_repr(self) -> str:
        return f"min={self.min}, max={self.max}"


class Cast(nn.Module):
    """x.to(dtype) for an IR dtype name: floats to integers truncate toward zero, anything to
    bool is x != 0."""

    def __init__(self, dtype: str):
        super().__init__()
        self.dtype_name, self.dtype = dtype, DTYPES[dtype]

    def forward(self, x):
        return x.to(self.dtype)

    def extra_repr(self) -> str:
        return self.dtype_name


# ---- lowerings ----


@lowering.register(_Function)
def _function(op, node):
    return Function(op.torch_fn)


@lowering.register(ClampOp)
def _clamp(op, node):
    return Clamp(op.min, op.max)


@lowering.register(CastOp)
def _cast(op, node):
    return Cast(op.dtype)
