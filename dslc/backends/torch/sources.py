"""torch modules for free parameters and noise (ops/sources.py)."""
from __future__ import annotations

import torch
from torch import nn
from ...ops.sources import Param, _Noise
from .table import lowering


class FreeParam(nn.Module):
    """A learned tensor of its own: forward() returns it."""

    def __init__(self, size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*size))

    def forward(self):
        return self.weight


class Seeded(nn.Module):
    """A module drawing random numbers in training mode from its own generator, seeded by
    dslc (from the layer's name, so a run is reproducible; `reseed` changes it)."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self._gen = None

    def reseed(self, seed: int) -> None:
        self.seed, self._gen = seed, None

    def __getstate__(self):              # a torch.Generator does not pickle
        state = self.__dict__.copy()
        state["_gen"] = None
        return state

    def generator(self, device) -> torch.Generator:
        if self._gen is None or self._gen.device != device:
            self._gen = torch.Generator(device=device)
            self._gen.manual_seed(self.seed)
        return self._gen


class Noise(Seeded):
    """randn_like / rand_like / bernoulli. With a noise input: that noise (bernoulli: u < p).
    Else in training mode a sample from the seeded generator, and in eval mode the mean."""

    def __init__(self, kind: str, seed: int):
        super().__init__(seed)
        self.kind = kind

    def forward(self, x, noise=None):
        if noise is not None:
            return (noise < x).to(x.dtype) if self.kind == "bernoulli" else noise
        if not self.training:
            return {"randn_like": torch.zeros_like, "rand_like": lambda t: torch.full_like(t, 0.5),
                    "bernoulli": lambda t: t}[self.kind](x)
        gen = self.generator(x.device)
        if self.kind == "bernoulli":
            return torch.bernoulli(x, generator=gen)
        draw = torch.randn if self.kind == "randn_like" else torch.rand
        return draw(x.shape, generator=gen, dtype=x.dtype, device=x.device)


# ---- lowerings ----


@lowering.register(Param)
def _param(op, node):
    return FreeParam(op.size)


@lowering.register(_Noise)
def _noise(op, node):
    import zlib
    return Noise(op.kind, zlib.crc32(node.name.encode()))
