"""torch-src entries of the shaping ops (dslc/ops/shaping.py): tensor methods, torch.stack."""
from __future__ import annotations

from ...ops.shaping import Expand, RepeatInterleave, Squeeze, Stack, Tile, Unsqueeze
from .code import call, lit
from .table import source


@source.register(Expand)
def _expand(op, c):
    sizes = ["-1" if d is None else c.dim(d)
             for d in op.targets(c.node.in_types, c.node.out_types)]
    c.set(f"{c.ins[0]}.expand([{', '.join(sizes)}])")


@source.register(Unsqueeze)
def _unsqueeze(op, c):
    c.set(f"{c.ins[0]}.unsqueeze({op.axis})")


@source.register(Squeeze)
def _squeeze(op, c):
    c.set(f"{c.ins[0]}.squeeze({lit(op.axes(c.node.in_types[0]))})")


@source.register(RepeatInterleave)
def _repeat_interleave(op, c):
    c.set(call(f"{c.ins[0]}.repeat_interleave", op.repeats, dim=op.axis))


@source.register(Tile)
def _tile(op, c):
    c.set(f"{c.ins[0]}.tile({lit(op.reps)})")


@source.register(Stack)
def _stack(op, c):
    c.set(call("torch.stack", f"[{', '.join(c.ins)}]", dim=op.axis))
