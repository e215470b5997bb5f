"""Training-only perturbations: layers that change their input at random while a model trains
and are the identity at inference (as dropout is, and as the noise ops of ops/sources.py are
their mean). An exported ONNX graph is never silently random: there they are Identity.

`phase_shuffle(n)` is WaveGAN's (Donahue et al. 2019, "Adversarial Audio Synthesis", sec. 3.3):
the discriminator's activations are shifted in time by a random integer in [-n, n], the sample
positions left empty filled by reflection, so that it cannot tell real from generated audio by
the phase of its periodic artifacts."""
from __future__ import annotations

from typing import ClassVar

from ..ir.dims import fmt_shape
from .base import Op, ShapeError, need_float, need_rank


class PhaseShuffle(Op):
    """phase_shuffle(n=2): [N, C, L] -> [N, C, L], a floating tensor, no parameters, 0 MACs.
    In torch's training mode each example is shifted along L by its own integer s drawn
    uniformly from [-n, n] (as the PyTorch ports do; the paper's TensorFlow code draws one s
    for the whole batch), from a generator seeded by dslc from the layer's name, so runs repeat
    (the module's `reseed(k)` changes it): y[i, :, t] = x[i, :, reflect(t - s_i)], reflection
    padding without repeating the edge (torch's and tf.pad's `reflect`). In eval mode and in
    ONNX it is the identity. n >= 0; a known L must exceed n (reflection padding of n needs
    more than n samples); a symbolic L found at run time no larger than n reflects repeatedly."""
    kind: ClassVar[str] = "phase_shuffle"
    positional: ClassVar[tuple[str, ...]] = ("n",)
    n: int = 2

    def shape(self, x):
        need_rank(x, 3, self.kind, "[N, C, L]")
        need_float(x, self.kind)
        if self.n < 0:
            raise ShapeError("E205", f"phase_shuffle: n must be >= 0, got {self.n}",
                             expected="a shift radius n >= 0", got=str(self.n))
        size = x.shape[2]
        if size.is_const() and size.value <= self.n:
            raise ShapeError("E303", f"phase_shuffle: shifts of up to {self.n} with reflection "
                             f"padding need a length L larger than {self.n}, got "
                             f"{fmt_shape(x.shape)}", expected=f"L >= {self.n + 1}",
                             got=str(size), culprits=(0,),
                             help="use a smaller n, or shuffle before the length is reduced")
        return x


OPS = (PhaseShuffle,)
