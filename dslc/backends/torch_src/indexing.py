"""torch-src entries of the indexing ops (dslc/ops/indexing.py)."""
from __future__ import annotations

from ...ops.base import axis_index
from ...ops.indexing import CumSum, Gather, IndexSelect, OneHot, Slice, TopK
from .code import call, dtype_expr, lit
from .table import source


def _axis(op, c) -> int:
    return axis_index(op.axis, c.node.in_types[0].rank, op.kind)


def _bound(spec, c, axis: int) -> str:
    """A bound from a plan of ops.indexing: ("const", v), ("rel", k) = the axis size of the
    first input + k, ("dims", Dim) from the inputs' run-time sizes."""
    kind, v = spec
    if kind == "const":
        return lit(v)
    if kind == "rel":
        return f"{c.ins[0]}.shape[{axis}] + {v}" if v else f"{c.ins[0]}.shape[{axis}]"
    return c.dim(v)


@source.register(Gather)
def _gather(op, c):
    c.set(f"torch.gather({c.ins[0]}, {_axis(op, c)}, {c.ins[1]}.long())")


@source.register(IndexSelect)
def _index_select(op, c):
    c.set(f"torch.index_select({c.ins[0]}, {_axis(op, c)}, {c.ins[1]}.long())")


@source.register(Slice)
def _slice(op, c):
    axis, start, end = op.plan(c.node.in_types)
    step = f":{op.step}" if op.step != 1 else ""
    c.set(f"{c.ins[0]}[{':, ' * axis}{_bound(start, c, axis)}:{_bound(end, c, axis)}{step}]")


@source.register(TopK)
def _topk(op, c):
    """sorted=True always: an unsorted request may come back in any order, sorted is one."""
    axis, k = op.plan(c.node.in_types)
    c.set(call("torch.topk", c.ins[0], _bound(k, c, axis), dim=axis, largest=op.largest,
               sorted=True))


@source.register(OneHot)
def _one_hot(op, c):
    c.set(f"F.one_hot({c.ins[0]}.long(), {op.num_classes}).to({dtype_expr(op.dtype)})")


@source.register(CumSum)
def _cumsum(op, c):
    """dtype= the input's: torch widens integer sums to i64, the IR keeps the input's dtype."""
    c.set(f"torch.cumsum({c.ins[0]}, {_axis(op, c)}, dtype={c.ins[0]}.dtype)")
