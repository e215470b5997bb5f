"""torch modules for the position ops (dslc/ops/positions.py), with the IR's parameter names."""
from __future__ import annotations

import torch
from torch import nn

from ...ops.positions import Positional
from .table import lowering


class PositionalModule(nn.Module):
    def __init__(self, op, node):
        super().__init__()
        d = node.in_types[0].shape[2].value
        if op.encoding == "learned":
            self.weight = nn.Parameter(torch.empty(op.max_len, d))
        else:       # a constant, not state: the IR has no parameter or buffer for it
            from .module import torch_dtype
            table = torch.from_numpy(op.table(d)).to(torch_dtype(node.in_types[0].dtype))
            self.register_buffer("table", table, persistent=False)

    def forward(self, x):
        table = self.weight if hasattr(self, "weight") else self.table
        return x + table[: x.shape[1]]


# ---- lowerings ----


@lowering.register(Positional)
def _positional(op, node):
    return PositionalModule(op, node)
