"""torch-src entries of the reductions (dslc/ops/reduce.py)."""
from __future__ import annotations

from ...ops.reduce import Norm, Var, _ArgReduce, _IntegerAccumulating, _Reduce
from .code import call, lit
from .table import source


def _reduced(name: str, x: str, axes, keepdim: bool) -> str:
    """torch.<name> over `axes`; prod (whose torch form takes one dim) one axis at a time, last
    first, so the others keep their indices; a rank-0 input as it is."""
    if name == "prod":
        for a in reversed(axes):
            x = f"torch.prod({x}, dim={a}, keepdim={keepdim})"
        return x
    return f"torch.{name}({x}, dim={lit(list(axes))}, keepdim={keepdim})" if axes else x


@source.register(_Reduce)
def _reduce(op, c):
    c.set(_reduced(op.torch_name, c.ins[0], op.axes(c.node.in_types[0]), op.keepdim))


@source.register(_IntegerAccumulating)
def _integer_accumulating(op, c):
    """sum and prod of integers or bools accumulate in int64, as torch's do."""
    x = c.ins[0] + (".to(torch.int64)" if c.node.out_types[0].dtype == "i64" else "")
    c.set(_reduced(op.torch_name, x, op.axes(c.node.in_types[0]), op.keepdim))


@source.register(Var)
def _var(op, c):
    fn = "torch.std" if op.kind == "std" else "torch.var"
    c.set(call(fn, c.ins[0], dim=list(op.axes(c.node.in_types[0])), correction=op.correction,
               keepdim=op.keepdim))


@source.register(Norm)
def _norm(op, c):
    c.set(call("torch.linalg.vector_norm", c.ins[0], ord=float(op.order),
               dim=list(op.axes(c.node.in_types[0])) or None, keepdim=op.keepdim))


@source.register(_ArgReduce)
def _arg_reduce(op, c):
    axis = op.axis if op.axis is None else op.axes(c.node.in_types[0])[0]
    c.set(call(f"torch.{op.kind}", c.ins[0], dim=axis, keepdim=op.keepdim))
