"""torch modules for the position ops (dslc/ops/positions.py), with the IR's parameter names;
the code the torch-src files copy is runtime.py's (position_ids, RelativeBias, WindowBias,
window_partition, window_merge, table_rows)."""
from __future__ import annotations

import torch
from torch import nn

from ..torch_src import runtime
from ...ops.positions import (Arange, Positional, Positions, RelativeBias, Roll, WindowBias,
                              WindowMerge, WindowPartition)
from .module import torch_dtype
from .modules import dims_values
from .table import lowering


class PositionalModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        d = node.in_types[0].shape[2].value
        self.offset = op.offset
        if op.encoding == "learned":
            self.weight = nn.Parameter(torch.empty(op.max_len, d))
        else:       # a constant, not state: the IR has no parameter or buffer for it
            table = torch.from_numpy(op.table(d)).to(torch_dtype(node.in_types[0].dtype))
            self.register_buffer("table", table, persistent=False)

    def forward(self, x, ids=None):
        table = self.weight if hasattr(self, "weight") else self.table
        return runtime.table_rows(table, x, self.offset, ids)


class ComputedArange(nn.Module):
    """arange with symbolic bounds, read from the carriers' run-time sizes."""

    def __init__(self, op, node):
        super().__init__()
        start, end, self.step = op.range()
        self.bounds, self.in_types = (start, end), node.in_types
        self.dtype = torch_dtype(op.dtype)

    def forward(self, *carriers):
        start, end = dims_values(self.in_types, carriers, self.bounds)
        return torch.arange(start, end, self.step, dtype=self.dtype, device=carriers[0].device)


class PositionsModule(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.offset, self.past, self.mask = op.offset, op.past, op.mask

    def forward(self, x, extra=None):
        return runtime.position_ids(x, self.offset, extra if self.past else None,
                                    extra if self.mask else None)


class RollModule(nn.Module):
    def __init__(self, plan):
        super().__init__()
        self.plan = plan

    def forward(self, x):
        if self.plan[0][0] is None:
            return torch.roll(x, self.plan[0][1])
        return torch.roll(x, [s for _, s in self.plan], [a for a, _ in self.plan])


class WindowPartitionModule(nn.Module):
    def __init__(self, window: int):
        super().__init__()
        self.window = window

    def forward(self, x):
        return runtime.window_partition(x, self.window)


class WindowMergeModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        self.window, self.in_types = op.window, node.in_types
        self.sizes = node.out_types[0].shape[1:3]

    def forward(self, x, *carriers):
        h, w = dims_values(self.in_types, (x, *carriers), self.sizes)
        return runtime.window_merge(x, self.window, h, w)


class SelfRelativeBias(runtime.RelativeBias):
    """relative_bias on one sequence: queries and keys alike."""

    def forward(self, q, k=None):
        return super().forward(q, q if k is None else k)


# ---- lowerings ----


@lowering.register(Positional)
def _positional(op, node):
    return PositionalModule(op, node)


@lowering.register(Arange)
def _arange(op, node):
    start, end, step = op.range()
    if start.is_const() and end.is_const():
        return runtime.Arange(start.value, end.value, step, torch_dtype(op.dtype))
    return ComputedArange(op, node)


@lowering.register(Positions)
def _positions(op, node):
    return PositionsModule(op)


@lowering.register(RelativeBias)
def _relative_bias(op, node):
    return SelfRelativeBias(op.buckets, op.heads, op.bucket_table().tolist())


@lowering.register(WindowBias)
def _window_bias(op, node):
    return runtime.WindowBias(op.heads, *op.hw())


@lowering.register(Roll)
def _roll(op, node):
    return RollModule(op.plan(node.in_types[0]))


@lowering.register(WindowPartition)
def _window_partition(op, node):
    return WindowPartitionModule(op.window)


@lowering.register(WindowMerge)
def _window_merge(op, node):
    return WindowMergeModule(op, node)
