"""Embeddings and recurrent layers (rnn, gru, lstm) with torch's parameter layout.

Sequences are batch-first at the language level, [N, T, F]; states keep torch's layout
[layers * directions, N, H]. The ONNX lowering transposes around the native RNN/GRU/LSTM ops
(onnxruntime rejects batch-first) and reorders the gates of torch's weights at load time."""
from __future__ import annotations

from typing import ClassVar, Literal, Optional

from ..ir.dims import Dim, fmt_shape
from ..limits import MAX_REPEAT
from .base import Op, ShapeError, known, need_float, need_rank, torch_uniform


class Embedding(Op):
    """embedding(num_embeddings, embedding_dim): integer ids [*] -> [*, embedding_dim];
    weight [num_embeddings, embedding_dim], N(0, 1), the padding row zero. The vectors are in
    the model's floating dtype (`dtype`, f32 when the model has no floating input)."""
    kind: ClassVar[str] = "embedding"
    positional: ClassVar[tuple[str, ...]] = ("num_embeddings", "embedding_dim")
    model_dtype: ClassVar[bool] = True     # `dtype` defaults to the model's floating dtype
    num_embeddings: int
    embedding_dim: int
    padding_idx: Optional[int] = None
    dtype: Literal["f16", "bf16", "f32", "f64"] = "f32"

    def shape(self, x):
        if not x.dtype.startswith(("i", "u")):
            raise ShapeError("E306", f"embedding takes integer ids, got {x.dtype}",
                             expected="i64 or i32", got=x.dtype, culprits=(0,))
        for what, v in (("num_embeddings", self.num_embeddings), ("embedding_dim", self.embedding_dim)):
            if v < 1:
                raise ShapeError("E205", f"embedding: {what} must be >= 1, got {v}",
                                 expected=f"{what} >= 1", got=str(v))
        if self.padding_idx is not None and not -self.num_embeddings <= self.padding_idx < self.num_embeddings:
            raise ShapeError("E205", f"padding_idx {self.padding_idx} is outside the "
                             f"{self.num_embeddings} embeddings")
        return x.with_shape(x.shape + (Dim.of(self.embedding_dim),)).model_copy(update={"dtype": self.dtype})

    def params(self, x):
        return {"weight": (self.num_embeddings, self.embedding_dim)}

    def init(self, name, shape, xs, rng):
        import numpy as np
        w = rng.standard_normal(shape).astype(np.float32)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0
        return w


class _Recurrent(Op):
    """rnn/gru/lstm(hidden_size): [N, T, F] -> [N, T, D*H] (output=sequence) or [N, D*H]
    (output=last: the final states of the last layer), D = 2 if bidirectional; with state=true
    also the final states [layers*D, N, H] (h, and c for lstm). Optional inputs by keyword:
    `initial=h0` (lstm: `initial=(h0, c0)`) and `lengths=len` ([N] integers, each >= 1).
    Per layer and direction: weight_ih [G*H, in], weight_hh [G*H, H], bias_ih, bias_hh [G*H]
    (G = 1 for rnn, 3 for gru, 4 for lstm; in = F for layer 0, D*H above; torch's names,
    weight_ih_l0, ..., with the suffix _reverse for the backward direction)."""
    gates: ClassVar[int]
    n_states: ClassVar[int] = 1
    precise: ClassVar[bool] = True
    arity: ClassVar[tuple[int, int | None]] = (1, 4)
    positional: ClassVar[tuple[str, ...]] = ("hidden_size",)
    tensor_args: ClassVar[tuple[str, ...]] = ("initial", "lengths")
    hidden_size: int
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    output: Literal["sequence", "last"] = "sequence"
    state: bool = False
    initial: int = 0
    lengths: int = 0

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def suffixes(self) -> list[str]:
        return [""] + (["_reverse"] if self.bidirectional else [])

    def shape(self, x, *extra):
        need_rank(x, 3, self.kind, "[N, T, features] (batch first)")
        need_float(x, self.kind)
        known(x.shape[2], f"the feature size of {self.kind}'s input")
        if self.hidden_size < 1 or self.layers < 1 or not 0 <= self.dropout < 1:
            raise ShapeError("E205", f"{self.kind}: hidden_size and layers must be >= 1 and "
                             "dropout in [0, 1)")
        if self.layers > MAX_REPEAT:
            raise ShapeError("E307", f"{self.kind}: {self.layers:,} stacked layers",
                             expected=f"at most {MAX_REPEAT:,}", got=f"{self.layers:,}")
        if self.initial not in (0, self.n_states) or self.lengths not in (0, 1):
            want = "(h0, c0)" if self.n_states == 2 else "h0"
            raise ShapeError("E208", f"{self.kind}: `initial` takes {want}, `lengths` one tensor")
        n, state = x.shape[0], (self.layers * self.directions, x.shape[0], self.hidden_size)
        for i, h in enumerate(extra[:self.initial], start=1):
            if h.shape != tuple(Dim.of(d) for d in state) or h.dtype != x.dtype:
                raise ShapeError("E302", f"{self.kind}: the initial state is {h}, this layer's "
                                 f"state is {x.dtype}{fmt_shape(state)}",
                                 expected=f"{x.dtype}{fmt_shape(state)}", got=str(h), culprits=(i,),
                                 help="states are [layers * directions, N, hidden]; project them "
                                      "(dense) when the sizes differ")
        if self.lengths:
            ln = extra[self.initial]
            if ln.dtype not in ("i64", "i32") or ln.shape != (n,):
                raise ShapeError("E306" if ln.dtype not in ("i64", "i32") else "E302",
                                 f"{self.kind}: lengths must be integers of shape [{n}], got {ln}",
                                 expected=f"i64[{n}]", got=str(ln), culprits=(len(extra),))
        width = Dim.of(self.directions * self.hidden_size)
        first = x.with_shape((n, x.shape[1], width) if self.output == "sequence" else (n, width))
        states = (x.with_shape(state),) * self.n_states if self.state else ()
        return (first, *states)

    def params(self, x, *extra):
        g, h = self.gates * self.hidden_size, self.hidden_size
        out = {}
        for layer in range(self.layers):
            width = x.shape[2].value if layer == 0 else self.directions * h
            for sfx in self.suffixes():
                out[f"weight_ih_l{layer}{sfx}"] = (g, width)
                out[f"weight_hh_l{layer}{sfx}"] = (g, h)
                if self.bias:
                    out[f"bias_ih_l{layer}{sfx}"] = (g,)
                    out[f"bias_hh_l{layer}{sfx}"] = (g,)
                out.update(self.extra_params(layer, sfx))
        return out

    def extra_params(self, layer: int, sfx: str) -> dict:
        return {}

    def init(self, name, shape, xs, rng):
        return torch_uniform(shape, self.hidden_size, rng)     # U(-1/sqrt(H), 1/sqrt(H))

    def macs(self, xs, ys):
        """N * T * (the elements of every weight matrix): each step multiplies the input and
        the state by every weight once; biases and gate nonlinearities count 0."""
        per_step = sum(_numel(s) for k, s in self.params(*xs).items() if k.startswith("weight"))
        return xs[0].shape[0] * xs[0].shape[1] * per_step


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


class RNN(_Recurrent):
    __doc__ = _Recurrent.__doc__ + " rnn is the Elman form, h' = nonlinearity(x W_ih^T + " \
        "b_ih + h W_hh^T + b_hh), nonlinearity tanh or relu."
    kind: ClassVar[str] = "rnn"
    gates: ClassVar[int] = 1
    nonlinearity: Literal["tanh", "relu"] = "tanh"


class GRU(_Recurrent):
    __doc__ = _Recurrent.__doc__ + (" reset=after is torch's nn.GRU (ONNX linear_before_reset=1);"
                                    " reset=before applies the reset gate before the matrix"
                                    " product, as the 000/001 slides do.")
    kind: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3
    reset: Literal["after", "before"] = "after"


class LSTM(_Recurrent):
    __doc__ = _Recurrent.__doc__ + (" peephole=true adds diagonal peepholes weight_ph [3*H]"
                                    " (gates i, f, o; the output gate sees the new cell).")
    kind: ClassVar[str] = "lstm"
    gates: ClassVar[int] = 4
    n_states: ClassVar[int] = 2
    peephole: bool = False

    def extra_params(self, layer: int, sfx: str) -> dict:
        return {f"weight_ph_l{layer}{sfx}": (3 * self.hidden_size,)} if self.peephole else {}


OPS = (Embedding, RNN, GRU, LSTM)
