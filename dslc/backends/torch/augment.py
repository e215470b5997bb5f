"""torch modules for the training-only perturbations (ops/augment.py)."""
from __future__ import annotations

import torch

from .sources import Seeded
from ...ops.augment import PhaseShuffle as PhaseShuffleOp
from .table import lowering


def reflect_index(i: torch.Tensor, size: int) -> torch.Tensor:
    """Positions i (any integers) folded into [0, size) by reflection without repeating the
    edge: -1 -> 1, size -> size - 2; repeated for |i| beyond one length (size 1: always 0)."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i < size, i, period - i)


class PhaseShuffle(Seeded):
    """WaveGAN's phase shuffle on [N, C, L]. In training mode example k is shifted by its own
    s_k in [-n, n], drawn from the seeded generator: y[k, :, t] = x[k, :, reflect(t - s_k)].
    In eval mode the identity."""

    def __init__(self, n: int, seed: int):
        super().__init__(seed)
        self.n = n

    def extra_repr(self) -> str:
        return f"n={self.n}"

    def forward(self, x):
        if not self.training or self.n == 0:
            return x
        batch, channels, size = x.shape
        shifts = torch.randint(-self.n, self.n + 1, (batch,), generator=self.generator(x.device),
                               device=x.device)
        t = torch.arange(size, device=x.device)
        index = reflect_index(t[None, :] - shifts[:, None], size)        # [N, L]
        return torch.gather(x, 2, index[:, None, :].expand(batch, channels, size))


# ---- lowerings ----


@lowering.register(PhaseShuffleOp)
def _phase_shuffle(op, node):
    import zlib
    return PhaseShuffle(op.n, zlib.crc32(node.name.encode()))
