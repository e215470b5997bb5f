"""torch-src entries of the elementwise functions (dslc/ops/elementwise.py)."""
from __future__ import annotations

from ...ops.elementwise import Cast, Clamp, _Function
from .code import call, dtype_expr
from .table import source


@source.register(_Function)
def _function(op, c):
    path = op.torch_fn
    fn = "F." + path[len("nn.functional."):] if path.startswith("nn.functional.") \
        else f"torch.{path}"
    c.set(f"{fn}({c.ins[0]})")


@source.register(Clamp)
def _clamp(op, c):
    kw = {k: v for k, v in (("min", op.min), ("max", op.max)) if v is not None}
    c.set(call("torch.clamp", c.ins[0], **kw))


@source.register(Cast)
def _cast(op, c):
    c.set(f"{c.ins[0]}.to({dtype_expr(op.dtype)})")
