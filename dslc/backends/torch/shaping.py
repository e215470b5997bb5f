"""torch modules for the shaping ops (dslc/ops/shaping.py): one generic call, since torch has
each of them as a tensor method (and torch.stack for several tensors)."""
from __future__ import annotations

import torch
from torch import nn

from .modules import dims_values
from ...ir.dims import Dim
from ...ops.shaping import Expand, RepeatInterleave, Squeeze, Stack, Tile, Unsqueeze
from .table import lowering


class Shaping(nn.Module):
    """`x.<fn>(*args, **kwargs)` on the node's first input, or torch.stack on all of them.
    `sizes` (Dims, possibly symbolic) become the first argument, evaluated on the run-time
    sizes of the node's inputs (`in_types`); inputs after the first only carry those sizes."""

    def __init__(self, fn: str, *args, sizes=None, in_types=(), **kwargs):
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.sizes, self.in_types = sizes, tuple(in_types)

    def forward(self, *xs):
        if self.fn == "stack":
            return torch.stack(xs, *self.args, **self.kwargs)
        args = self.args
        if self.sizes is not None:
            args = (dims_values(self.in_types, xs, self.sizes),) + args
        return getattr(xs[0], self.fn)(*args, **self.kwargs)

    def extra_repr(self) -> str:
        return self.fn


# ---- lowerings ----


@lowering.register(Expand)
def _expand(op, node):
    sizes = [Dim.of(-1) if d is None else d for d in op.targets(node.in_types, node.out_types)]
    return Shaping("expand", sizes=sizes, in_types=node.in_types)


@lowering.register(Unsqueeze)
def _unsqueeze(op, node):
    return Shaping("unsqueeze", op.axis)


@lowering.register(Squeeze)
def _squeeze(op, node):
    return Shaping("squeeze", tuple(op.axes(node.in_types[0])))


@lowering.register(RepeatInterleave)
def _repeat_interleave(op, node):
    return Shaping("repeat_interleave", op.repeats, dim=op.axis)


@lowering.register(Tile)
def _tile(op, node):
    return Shaping("tile", tuple(op.reps))


@lowering.register(Stack)
def _stack(op, node):
    return Shaping("stack", dim=op.axis)
