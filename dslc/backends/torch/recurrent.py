"""torch modules for rnn/gru/lstm nodes. Native forms subclass nn.RNN/GRU/LSTM, so their
parameters keep torch's names at the node (`lstm_1.weight_ih_l0`); the forms torch lacks (GRU
with the reset gate before the product, LSTM with peepholes) are written out as loops over
time with the same parameter names."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from ...ops.recurrent import Embedding, _Recurrent
from .table import lowering


class _Outputs:
    """Shared input/output handling: optional initial states and lengths, sequence or last,
    final states."""

    def _setup(self, op):
        self.n_initial, self.has_lengths = op.initial, bool(op.lengths)
        self.last, self.return_state = op.output == "last", op.state
        self.n_dirs = op.directions

    def _split(self, extra):
        initial = extra[:self.n_initial]
        lengths = extra[self.n_initial] if self.has_lengths else None
        return initial, lengths

    def _finish(self, out, h, c):
        n = out.shape[0]
        first = h[-self.n_dirs:].permute(1, 0, 2).reshape(n, -1) if self.last else out
        states = ((h,) if c is None else (h, c)) if self.return_state else ()
        return first if not states else (first, *states)


def _native(base):
    class Native(_Outputs, base):
        def __init__(self, op, features: int):
            kw = dict(num_layers=op.layers, bias=op.bias, batch_first=True, dropout=op.dropout,
                      bidirectional=op.bidirectional)
            if base is nn.RNN:
                kw["nonlinearity"] = op.nonlinearity
            base.__init__(self, features, op.hidden_size, **kw)
            self._setup(op)

        def forward(self, x, *extra):
            initial, lengths = self._split(extra)
            hx = None if not initial else (initial[0] if len(initial) == 1 else tuple(initial))
            if lengths is None:
                out, hn = base.forward(self, x, hx)
            else:
                packed = pack_padded_sequence(x, lengths.cpu().long(), batch_first=True,
                                              enforce_sorted=False)
                out, hn = base.forward(self, packed, hx)
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            h, c = hn if isinstance(hn, tuple) else (hn, None)
            return self._finish(out, h, c)
    Native.__name__ = Native.__qualname__ = f"{base.__name__}Node"
    return Native


# module-level names equal to the classes' qualnames: torch.save can pickle compiled modules
RNNNode, GRUNode, LSTMNode = _native(nn.RNN), _native(nn.GRU), _native(nn.LSTM)


class LoopRecurrent(_Outputs, nn.Module):
    """gru(reset=before) and lstm(peephole=true), step by step; padded steps keep the state
    and output zeros, as packed sequences and ONNX sequence_lens do."""

    def __init__(self, op, features: int):
        super().__init__()
        self.kind, self.hidden, self.layers = op.kind, op.hidden_size, op.layers
        self._setup(op)
        for name, shape in op.params(_Feat(features)).items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))

    def _p(self, name):
        return getattr(self, name, None)

    def _cell(self, x, h, c, k: str):
        wi, wh = self._p(f"weight_ih_{k}"), self._p(f"weight_hh_{k}")
        bi, bh = self._p(f"bias_ih_{k}"), self._p(f"bias_hh_{k}")
        gx = x @ wi.T + (bi if bi is not None else 0)
        H = self.hidden
        if self.kind == "gru":      # reset before the product: R_n (r * h)
            r = torch.sigmoid(gx[:, :H] + h @ wh[:H].T + (bh[:H] if bh is not None else 0))
            z = torch.sigmoid(gx[:, H:2 * H] + h @ wh[H:2 * H].T + (bh[H:2 * H] if bh is not None else 0))
            n = torch.tanh(gx[:, 2 * H:] + (r * h) @ wh[2 * H:].T + (bh[2 * H:] if bh is not None else 0))
            return (1 - z) * n + z * h, None
        g = gx + h @ wh.T + (bh if bh is not None else 0)
        p = self._p(f"weight_ph_{k}")
        i = torch.sigmoid(g[:, :H] + p[:H] * c)
        f = torch.sigmoid(g[:, H:2 * H] + p[H:2 * H] * c)
        c2 = f * c + i * torch.tanh(g[:, 2 * H:3 * H])
        o = torch.sigmoid(g[:, 3 * H:] + p[2 * H:] * c2)
        return o * torch.tanh(c2), c2

    def _direction(self, x, h, c, k, reverse, mask):
        T = x.shape[1]
        outs = [None] * T
        for t in (reversed(range(T)) if reverse else range(T)):
            h2, c2 = self._cell(x[:, t], h, c, k)
            m = mask[:, t:t + 1]
            h = m * h2 + (1 - m) * h
            if c is not None:
                c = m * c2 + (1 - m) * c
            outs[t] = h * m
        return torch.stack(outs, dim=1), h, c

    def forward(self, x, *extra):
        initial, lengths = self._split(extra)
        n, T = x.shape[0], x.shape[1]
        steps = torch.arange(T, device=x.device)
        mask = (steps[None, :] < (lengths[:, None] if lengths is not None else T)).to(x.dtype)
        zeros = x.new_zeros(self.layers * self.n_dirs, n, self.hidden)
        h0 = initial[0] if initial else zeros
        c0 = (initial[1] if initial else zeros) if self.kind == "lstm" else None
        hs, cs, inp = [], [], x
        for layer in range(self.layers):
            outs = []
            for d, sfx in enumerate([""] + (["_reverse"] if self.n_dirs == 2 else [])):
                j = layer * self.n_dirs + d
                o, h, c = self._direction(inp, h0[j], c0[j] if c0 is not None else None,
                                          f"l{layer}{sfx}", d == 1, mask)
                outs.append(o)
                hs.append(h)
                cs.append(c)
            inp = torch.cat(outs, dim=2)
        return self._finish(inp, torch.stack(hs), torch.stack(cs) if c0 is not None else None)


class _Feat:
    """Just enough of a TensorType for op.params: the input feature size."""

    def __init__(self, f: int):
        from ...ir.dims import Dim
        self.shape = (None, None, Dim.of(f))


def build(op, node) -> nn.Module:
    features = node.in_types[0].shape[2].value
    if (op.kind == "gru" and op.reset == "before") or getattr(op, "peephole", False):
        return LoopRecurrent(op, features)
    return {"rnn": RNNNode, "gru": GRUNode, "lstm": LSTMNode}[op.kind](op, features)


# ---- lowerings ----


@lowering.register(Embedding)
def _embedding(op, node):
    from torch import nn
    return nn.Embedding(op.num_embeddings, op.embedding_dim, op.padding_idx)


@lowering.register(_Recurrent)
def _recurrent(op, node):
    return build(op, node)
