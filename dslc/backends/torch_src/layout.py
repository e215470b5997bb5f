"""torch-src entries of the layout ops (dslc/ops/layout.py)."""
from __future__ import annotations

from ...ops.layout import Permute, _Reshaping
from .table import source


def reshaped(x: str, plan) -> str:
    """`x.reshape([...])` by a plan of ints, -1 and ("copy", j) (the input's dim j at run time)."""
    sizes = [f"{x}.shape[{p[1]}]" if isinstance(p, tuple) else str(p) for p in plan]
    return f"{x}.reshape([{', '.join(sizes)}])"


@source.register(_Reshaping)
def _reshaping(op, c):
    c.set(reshaped(c.ins[0], op._plan(c.node)))


@source.register(Permute)
def _permute(op, c):
    c.set(f"{c.ins[0]}.permute({', '.join(map(str, op.perm(c.node.in_types[0].rank)))})")
