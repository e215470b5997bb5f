"""torch-src entries of the layout ops (dslc/ops/layout.py)."""
from __future__ import annotations

from ...ops.layout import Permute, _Reshaping
from .table import source


def reshaped(x: str, plan, c) -> str:
    """`x.reshape([...])` by a plan of ints, -1, ("copy", j) (the input's dim j at run time)
    and ("dims", d) (a size computed from the inputs' sizes, c.dim)."""
    sizes = [str(p) if not isinstance(p, tuple) else
             f"{x}.shape[{p[1]}]" if p[0] == "copy" else c.dim(p[1]) for p in plan]
    return f"{x}.reshape([{', '.join(sizes)}])"


@source.register(_Reshaping)
def _reshaping(op, c):
    c.set(reshaped(c.ins[0], op._plan(c.node), c))


@source.register(Permute)
def _permute(op, c):
    c.set(f"{c.ins[0]}.permute({', '.join(map(str, op.perm(c.node.in_types[0].rank)))})")
