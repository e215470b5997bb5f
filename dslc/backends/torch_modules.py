"""torch modules for ops that torch.nn lacks in the exact form the IR means. Imported only by
op lowerings (inside their `torch` methods), so the core never imports torch."""
from __future__ import annotations

import torch
from torch import nn


class Step(nn.Module):
    """Heaviside step: 1 where x >= 0, else 0."""

    def forward(self, x):
        return (x >= 0).to(x.dtype)


class Binary(nn.Module):
    def __init__(self, fn: str):
        super().__init__()
        self.fn = fn

    def forward(self, a, b):
        return torch.add(a, b) if self.fn == "add" else torch.mul(a, b)


class Concat(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class Split(nn.Module):
    def __init__(self, parts: int, axis: int):
        super().__init__()
        self.parts, self.axis = parts, axis

    def forward(self, x):
        return tuple(torch.chunk(x, self.parts, dim=self.axis))
