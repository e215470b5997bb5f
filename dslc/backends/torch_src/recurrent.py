"""torch-src entries of embedding and rnn/gru/lstm (dslc/ops/recurrent.py)."""
from __future__ import annotations

from ...ops.recurrent import Embedding, _Recurrent
from .code import call
from .table import source


@source.register(Embedding)
def _embedding(op, c):
    """nn.Embedding; a tied embedding is F.embedding on its owner's weight."""
    if c.tied:
        c.own_params()
        return c.set(f"F.embedding({c.ins[0]}, {c.param('weight')}"
                     + (f", {op.padding_idx})" if op.padding_idx is not None else ")"))
    kw = {"padding_idx": op.padding_idx} if op.padding_idx is not None else {}
    c.module(call("nn.Embedding", op.num_embeddings, op.embedding_dim, **kw))


@source.register(_Recurrent)
def _recurrent(op, c):
    """torch's own nn.RNN/GRU/LSTM, or a loop for the forms it lacks (gru(reset=before),
    lstm(peephole=true)); then the outputs the op asks for (the sequence or the last step's
    states, and the final states)."""
    x = c.ins[0]
    initial = c.ins[1:1 + op.initial]
    lengths = c.ins[1 + op.initial] if op.lengths else None
    loop = getattr(op, "reset", "after") == "before" or getattr(op, "peephole", False)
    out, h, cell = (_loop if loop else _native)(op, c, x, initial, lengths)
    first = f"{h}[-{op.directions}:].permute(1, 0, 2).reshape({x}.shape[0], -1)" \
        if op.output == "last" else out
    states = ([h, cell] if cell else [h]) if op.state else []
    c.set(", ".join([first, *states]))


def _native(op, c, x, initial, lengths):
    """nn.RNN/GRU/LSTM itself (its parameters at the node: `lstm_1.weight_ih_l0`); lengths by
    a packed sequence."""
    base = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}[op.kind]
    kw = {"num_layers": op.layers, "batch_first": True}
    if not op.bias:
        kw["bias"] = False
    if op.dropout:
        kw["dropout"] = op.dropout
    if op.bidirectional:
        kw["bidirectional"] = True
    if op.kind == "rnn" and op.nonlinearity != "tanh":
        kw["nonlinearity"] = op.nonlinearity
    c.init(call(f"nn.{base}", c.node.in_types[0].shape[2].value, op.hidden_size, **kw))
    hx = "" if not initial else ", " + (initial[0] if len(initial) == 1
                                       else f"({', '.join(initial)})")
    out, h = c.temp("out"), c.temp("h")
    cell = c.temp("c") if op.kind == "lstm" else None
    states = f"({h}, {cell})" if cell else h
    if lengths is None:
        c.line(f"{out}, {states} = {c.attr}({x}{hx})")
        return out, h, cell
    packed = c.temp("packed")
    c.line(f"{packed} = nn.utils.rnn.pack_padded_sequence({x}, {lengths}.cpu().long(), "
           f"batch_first=True, enforce_sorted=False)")
    c.line(f"{packed}, {states} = {c.attr}({packed}{hx})")
    c.line(f"{out}, _ = nn.utils.rnn.pad_packed_sequence({packed}, batch_first=True, "
           f"total_length={x}.shape[1])")
    return out, h, cell


def _loop(op, c, x, initial, lengths):
    """The parameters in a Weights module at the node, one loop_direction call per layer and
    direction; padded steps keep the state and output zeros."""
    params = op.params(*c.node.in_types)
    for name in ("Weights", "_plus", "loop_direction"):
        c.helper(name)
    c.init("Weights(" + ", ".join(f"{k}={list(s)}" for k, s in params.items()) + ")")
    mask, h0 = c.temp("mask"), c.temp("h0")
    steps = f"torch.arange({x}.shape[1], device={x}.device)[None, :]"
    c.line(f"{mask} = ({steps} < {lengths}[:, None]).to({x}.dtype)" if lengths is not None else
           f"{mask} = torch.ones({x}.shape[0], {x}.shape[1], dtype={x}.dtype, device={x}.device)")
    zeros = f"{x}.new_zeros({op.layers * op.directions}, {x}.shape[0], {op.hidden_size})"
    c.line(f"{h0} = {initial[0] if initial else zeros}")
    c0 = h0
    if op.kind == "lstm":
        c0 = c.temp("c0")
        c.line(f"{c0} = {initial[1] if initial else zeros}")
    inp, hs, cs = x, [], []
    for layer in range(op.layers):
        outs = []
        for d, sfx in enumerate([""] + (["_reverse"] if op.directions == 2 else [])):
            j, k = layer * op.directions + d, f"l{layer}{sfx}"
            o, h, cc = c.temp(f"out_{k}"), c.temp(f"h_{k}"), c.temp(f"c_{k}")
            weights = [f"{c.attr}.{n}" if n in params else "None"
                       for n in (f"weight_ih_{k}", f"weight_hh_{k}", f"bias_ih_{k}",
                                 f"bias_hh_{k}", f"weight_ph_{k}")]
            c.line(f"{o}, {h}, {cc} = loop_direction({op.kind!r}, {inp}, {h0}[{j}], {c0}[{j}], "
                   + ", ".join(weights) + f", {d == 1}, {mask})")
            outs.append(o)
            hs.append(h)
            cs.append(cc)
        inp = outs[0] if len(outs) == 1 else f"torch.cat([{', '.join(outs)}], dim=2)"
        if layer < op.layers - 1:
            nxt = c.temp(f"in_l{layer + 1}")
            c.line(f"{nxt} = {inp}")
            inp = nxt
    h_all = f"torch.stack([{', '.join(hs)}])"
    cell = f"torch.stack([{', '.join(cs)}])" if op.kind == "lstm" else None
    return inp, h_all, cell
