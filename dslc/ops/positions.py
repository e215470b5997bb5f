"""Positions: position ids, integer ranges, position tables and biases, rolls and windows.
Sequences are [N, T, D]."""
from __future__ import annotations

import math
from typing import ClassVar, Literal

from .base import Op, ShapeError, known, need_float, need_rank


class Positional(Op):
    """positional(max_len, encoding=learned|sinusoidal): [N, T, D] -> [N, T, D], adds the position
    table's first T rows (T <= max_len); learned: weight [max_len, D]; sinusoidal: no
    parameters, the table of Vaswani et al."""
    kind: ClassVar[str] = "positional"
    positional: ClassVar[tuple[str, ...]] = ("max_len",)
    max_len: int
    encoding: Literal["learned", "sinusoidal"] = "learned"

    def shape(self, x):
        need_rank(x, 3, self.kind, "[N, T, features]")
        need_float(x, self.kind)
        known(x.shape[2], "the width of positional's input")
        t = x.shape[1]
        if t.is_const() and t.value > self.max_len:
            raise ShapeError("E303", f"positional: {t} positions but the table has {self.max_len}",
                             expected=f"T <= {self.max_len}", got=str(t), culprits=(0,))
        return x

    def params(self, x):
        return {"weight": (self.max_len, x.shape[2].value)} if self.encoding == "learned" else {}

    def init(self, name, shape, xs, rng):
        import numpy as np
        return rng.standard_normal(shape).astype(np.float32)     # as nn.Embedding

    def table(self, d: int):
        """The sinusoidal table [max_len, d] in float64 (each backend casts it to the input's
        dtype): sin on even features, cos on odd ones."""
        import numpy as np
        pos = np.arange(self.max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d, 2, dtype=np.float64) * (-math.log(10000.0) / d))
        pe = np.zeros((self.max_len, d))
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div)[:, : d // 2]
        return pe


OPS = (Positional,)
