"""ONNX lowering of rnn/gru/lstm nodes onto the native RNN/GRU/LSTM ops, one op per layer.

onnxruntime rejects batch-first layout, so X is transposed to [T, N, F] and Y back. torch's
weights keep their names as initializers; the gate reordering (torch i,f,g,o -> ONNX i,o,f,c;
torch r,z,n -> ONNX z,r,h) is a Gather on them that onnxruntime folds at load time."""
from __future__ import annotations

import numpy as np
from ...ops.recurrent import Embedding, _Recurrent
from .table import lowering

_ORDER = {"rnn": [0], "gru": [1, 0, 2], "lstm": [0, 3, 1, 2]}
_PEEP = [0, 2, 1]          # weight_ph is (i, f, o); ONNX P is (i, o, f)


def _gate_index(kind: str, hidden: int, order=None) -> np.ndarray:
    blocks = order if order is not None else _ORDER[kind]
    return np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in blocks]).astype(np.int64)


def _stack(b, node, tensors: list[str], idx: str, hint: str) -> str:
    """Reorder each direction's tensor by `idx`, add the direction axis, concatenate."""
    parts = []
    for t in tensors:
        g = b.node("Gather", [t, idx], name=f"{node.name}.{hint}.gates", axis=0)[0]
        parts.append(b.node("Unsqueeze", [g, b.ints([0])], name=f"{node.name}.{hint}.dir")[0])
    return parts[0] if len(parts) == 1 else b.node("Concat", parts, name=f"{node.name}.{hint}",
                                                   axis=0)[0]


def lower(op, b, node, ins, outs) -> None:
    kind, H, D = op.kind, op.hidden_size, op.directions
    name = node.name
    initial = ins[1:1 + op.initial]
    lens = ""
    if op.lengths:
        from onnx import TensorProto
        lens = b.node("Cast", [ins[1 + op.initial]], name=f"{name}.lengths", to=TensorProto.INT32)[0]
    idx = b.ints(_gate_index(kind, H), f"{name}.gate_order")
    x = b.node("Transpose", [ins[0]], name=f"{name}.time_major", perm=[1, 0, 2])[0]
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if kind == "rnn":
        attrs["activations"] = [op.nonlinearity.capitalize()] * D
    if kind == "gru":
        attrs["linear_before_reset"] = int(op.reset == "after")
    hs, cs = [], []
    for layer in range(op.layers):
        sfx = [f"l{layer}"] + ([f"l{layer}_reverse"] if D == 2 else [])
        w = _stack(b, node, [b.param(node, f"weight_ih_{s}") for s in sfx], idx, f"W{layer}")
        r = _stack(b, node, [b.param(node, f"weight_hh_{s}") for s in sfx], idx, f"R{layer}")
        inputs = [x, w, r]
        if op.bias:
            both = [b.node("Concat", [b.param(node, f"bias_ih_{s}"), b.param(node, f"bias_hh_{s}")],
                           name=f"{name}.B{layer}", axis=0)[0] for s in sfx]
            idx2 = b.ints(np.concatenate([_gate_index(kind, H), _gate_index(kind, H) + op.gates * H]),
                          f"{name}.bias_order")
            inputs.append(_stack(b, node, both, idx2, f"B{layer}"))
        else:
            inputs.append("")
        inputs.append(lens)
        rows = (b.ints([layer * D], "start"), b.ints([(layer + 1) * D], "end"),
                b.ints([0], "axis0")) if initial else ()
        for s in initial:
            inputs.append(b.node("Slice", [s, *rows], name=f"{name}.initial{layer}")[0])
        if kind == "lstm" and op.peephole:
            if not initial:
                inputs += ["", ""]
            pidx = b.ints(_gate_index(kind, H, _PEEP), f"{name}.peephole_order")
            inputs.append(_stack(b, node, [b.param(node, f"weight_ph_{s}") for s in sfx], pidx, f"P{layer}"))
        n_out = 3 if kind == "lstm" else 2
        res = b.node(kind.upper(), inputs, n_out, name=f"{name}.layer{layer}", **attrs)
        y, hs_l = res[0], res[1]
        hs.append(hs_l)
        if kind == "lstm":
            cs.append(res[2])
        # Y [T, D, N, H] -> [T, N, D*H] for the next layer (or the output)
        y = b.node("Transpose", [y], name=f"{name}.merge{layer}", perm=[0, 2, 1, 3])[0]
        x = b.node("Reshape", [y, b.ints([0, 0, D * H], "merge_shape")], name=f"{name}.y{layer}")[0]
    h_all = hs[0] if len(hs) == 1 else b.node("Concat", hs, name=f"{name}.h_n", axis=0)[0]
    if op.output == "sequence":
        b.node("Transpose", [x], [outs[0]], name=f"{name}.batch_first", perm=[1, 0, 2])
    else:
        last = b.node("Transpose", [hs[-1]], name=f"{name}.last_dirs", perm=[1, 0, 2])[0]
        b.node("Reshape", [last, b.ints([0, D * H], "last_shape")], [outs[0]], name=f"{name}.last")
    if op.state:
        b.node("Identity", [h_all], [outs[1]], name=f"{name}.h")
        if kind == "lstm":
            c_all = cs[0] if len(cs) == 1 else b.node("Concat", cs, name=f"{name}.c_n", axis=0)[0]
            b.node("Identity", [c_all], [outs[2]], name=f"{name}.c")


# ---- lowerings ----


@lowering.register(Embedding)
def _embedding(op, b, node, ins, outs):
    b.node("Gather", [b.param(node, "weight"), ins[0]], outs, name=node.name, axis=0)


@lowering.register(_Recurrent)
def _recurrent(op, b, node, ins, outs):
    lower(op, b, node, ins, outs)
