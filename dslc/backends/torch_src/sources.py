"""torch-src entries of free parameters and noise (dslc/ops/sources.py)."""
from __future__ import annotations

from ...ops.sources import Param, _Noise
from .code import call, lit
from .table import source


@source.register(Param)
def _param(op, c):
    c.helper("Param")
    c.module(call("Param", lit(list(op.size))))


@source.register(_Noise)
def _noise(op, c):
    """randn_like / rand_like / bernoulli. With a noise input: that noise (bernoulli: u < p).
    Training mode draws from torch's global generator (the interpreter's per-layer seeded
    generator does not script); eval mode is the mean."""
    x = c.ins[0]
    if len(c.ins) > 1:
        return c.set(f"({c.ins[1]} < {x}).to({x}.dtype)" if op.kind == "bernoulli" else c.ins[1])
    train, mean = {"randn_like": (f"torch.randn_like({x})", f"torch.zeros_like({x})"),
                   "rand_like": (f"torch.rand_like({x})", f"torch.full_like({x}, 0.5)"),
                   "bernoulli": (f"torch.bernoulli({x})", x)}[op.kind]
    c.set(f"{train} if self.training else {mean}")
