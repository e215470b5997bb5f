"""Recurrent layers as dslc's backend lowers them (backends/onnx/recurrent.py): X transposed to
time-major, one RNN/GRU/LSTM node per layer reading torch's weights through a Gather that
reorders the gates (an Unsqueeze adds the direction axis, a Concat joins the directions), each
layer's Y merged back to [T, N, D*H] by a Transpose and a Reshape, then the batch-first
Transpose (output=sequence) or the last layer's final states reshaped to [N, D*H]
(output=last), Identities of the (concatenated) final states for state=true, Slices of the
initial states per layer and a Cast of the lengths to int32. The weights are the torch-layout
initializers the Gathers read, under dslc's names (weight_ih_l0, ..._reverse).
torch.onnx.export's form (both exporters) differs in three places: W, R and B are constants in
ONNX's layout and gate order (put back into torch's here), the initial states are constant
zeros, and one direction's Y is Squeezed to [T, N, H]."""
from __future__ import annotations

from .emit import Operands
from .graph import Layer, attrs, fail, layer_name

KINDS = {"RNN": "rnn", "GRU": "gru", "LSTM": "lstm"}


def _only(g, value, op_type, perm=None):
    # a Shape of the value (the dynamo exporter's sizes for the Reshape after it) is static,
    # claimed with the Reshape that reads it
    users = [u for u in g.consumers.get(value, []) if u.op_type != "Shape"]
    if len(users) != 1 or users[0].op_type != op_type:
        return None
    if perm is not None and list(attrs(users[0]).get("perm", [])) != perm:
        return None
    return users[0]


def _arrays(g, value) -> list[tuple[str, object]]:
    """The float initializers a static weight input is computed from, in graph order."""
    out = []
    for n in g.upstream(value):
        for i in n.input:
            c = g.const(i)
            if c is not None and c.dtype.kind == "f" and all(i != k for k, _ in out):
                out.append((i, c))
    return out


# each gate's rows in ONNX's order, listed in torch's order (LSTM: ONNX i, o, f, c; torch i,
# f, g, o. GRU: ONNX z, r, h; torch r, z, n)
GATES = {"lstm": [0, 2, 3, 1], "gru": [1, 0, 2], "rnn": [0]}


def _torch_layout(kind: str, slot: int, array, dirs: int) -> list:
    """(local name, array) per direction of an ONNX W/R/B constant in torch's layout."""
    import numpy as np
    order = GATES[kind]
    gates = len(order)

    def reorder(rows):
        h = rows.shape[0] // gates
        return np.concatenate([rows[i * h:(i + 1) * h] for i in order])
    out = []
    for d in range(dirs):
        if slot == 3:
            half = array.shape[1] // 2
            out += [("bias_ih", reorder(array[d, :half])), ("bias_hh", reorder(array[d, half:]))]
        else:
            out.append(("weight_ih" if slot == 1 else "weight_hh", reorder(array[d])))
    return out


def _zeros(g, value) -> bool:
    """Whether `value` is all zeros: a constant, or an Expand of a zero constant or a
    ConstantOfShape of zero to sizes read from the inputs (a symbolic batch)."""
    import numpy as np
    c = g.const(value)
    if c is not None:
        return not c.any()
    n = g.producer.get(value)
    if n is None or value not in g.static:
        return False
    if n.op_type == "Expand":
        c = g.const(n.input[0])
        return c is not None and not c.any()
    if n.op_type == "ConstantOfShape":
        v = attrs(n).get("value")
        return v is None or not np.asarray(__import__("onnx").numpy_helper.to_array(v)).any()
    return False


def _axes(g, node):
    """A Squeeze's axes (its attribute, or its constant second input)."""
    if len(node.input) > 1 and node.input[1]:
        c = g.const(node.input[1])
        return None if c is None else [int(v) for v in c.reshape(-1)]
    return list(attrs(node).get("axes", [])) or None


def from_time_major(g, node):
    """The Transpose to time-major that begins a recurrent layer."""
    if list(attrs(node).get("perm", [])) != [1, 0, 2]:
        return None
    users = g.consumers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type not in KINDS or users[0].input[0] != node.output[0]:
        return None
    return _layer(g, users[0])


def from_lengths(g, node):
    """The Cast of the lengths to int32 that begins a recurrent layer with lengths=."""
    users = g.consumers.get(node.output[0], [])
    if attrs(node).get("to") != 6 or not users or any(
            u.op_type not in KINDS or list(u.input[4:5]) != [node.output[0]] for u in users):
        return None
    return _layer(g, users[0])


def _layer(g, first):
    kind = KINDS[first.op_type]
    a = attrs(first)
    hidden, direction = int(a["hidden_size"]), a.get("direction", "forward")
    if direction == "reverse":
        raise fail(first, "a reverse-only layer has no dslc form (bidirectional or forward)")
    dirs = 2 if direction == "bidirectional" else 1
    tr = g.producer.get(first.input[0])
    if tr is None or tr.op_type != "Transpose" or list(attrs(tr).get("perm", [])) != [1, 0, 2]:
        raise fail(first, "its X is not a batch-first input transposed to time-major")
    x, used = tr.input[0], [tr]
    ins = list(first.input) + [""] * (8 - len(first.input))
    lens = ins[4]
    kw: dict = {}
    if lens:
        cast = g.producer.get(lens)
        if cast is None or cast.op_type != "Cast":
            raise fail(first, "its sequence_lens is not a Cast of the lengths")
        used.append(cast)
        lens = cast.input[0]
    initial = []
    for s in ins[5:5 + (2 if kind == "lstm" else 1)]:
        if s and _zeros(g, s):
            continue            # torch's zero state: a constant, or zeros sized by the batch
        if s:
            sl = g.producer.get(s)
            if sl is None or sl.op_type != "Slice":
                raise fail(first, "its initial state is neither zeros nor a Slice of the "
                                  "states input")
            initial.append(sl.input[0])
    nodes, node, weights = [], first, {}
    sfx = ["", "_reverse"][:dirs]
    while True:
        layer = len(nodes)
        nodes.append(node)
        locals_ = {"W": ["weight_ih"], "R": ["weight_hh"], "B": ["bias_ih", "bias_hh"],
                   "P": ["weight_ph"]}
        for slot, names in zip((1, 2, 3, 7), locals_.values()):
            value = node.input[slot] if len(node.input) > slot else ""
            if not value:
                continue
            if g.const(value) is not None:          # ONNX's layout (torch.onnx.export)
                if slot == 7:
                    raise fail(node, "a peephole LSTM's constant P has no dslc form")
                for k, (local, arr) in enumerate(_torch_layout(kind, slot, g.const(value), dirs)):
                    weights[f"{local}_l{layer}{sfx[k // len(names)]}"] = (value, arr)
                continue
            arrays = _arrays(g, value)
            if len(arrays) != len(names) * dirs:
                raise fail(node, "its weights are not dslc's Gathers of torch-layout weights")
            for k, (wname, arr) in enumerate(arrays):
                weights[f"{names[k % len(names)]}_l{layer}{sfx[k // len(names)]}"] = (wname, arr)
        for s in node.input[5:7]:
            if s and g.producer.get(s) is not None and g.producer[s].op_type == "Slice":
                used.append(g.producer[s])
        merge = _only(g, node.output[0], "Transpose", [0, 2, 1, 3])
        flat = merge and _only(g, merge.output[0], "Reshape")
        squeeze = _only(g, node.output[0], "Squeeze") if dirs == 1 else None
        if flat is None and squeeze is not None and _axes(g, squeeze) == [1]:
            merge, flat = None, squeeze             # torch's one direction: Y squeezed
        if flat is None:
            raise fail(node, "its Y is not merged to [T, N, D*H]")
        used += [n for n in (node, merge, flat) if n is not None]
        users = g.consumers.get(flat.output[0], [])
        if len(users) == 1 and users[0].op_type == first.op_type and \
                users[0].input[0] == flat.output[0]:
            node = users[0]
            continue
        break
    outs = []
    seq = _only(g, flat.output[0], "Transpose", [1, 0, 2])
    if seq is not None:
        used.append(seq)
        outs.append(seq.output[0])
    else:
        last = _only(g, node.output[1], "Transpose", [1, 0, 2]) if len(node.output) > 1 else None
        shape = last and _only(g, last.output[0], "Reshape")
        if shape is None:
            raise fail(node, "neither its sequence nor its last states are read")
        used += [last, shape]
        outs.append(shape.output[0])
        kw["output"] = "last"
    for k in range(1, 3 if kind == "lstm" else 2):
        finals = [n.output[k] for n in nodes if len(n.output) > k and n.output[k]]
        if not finals:
            break
        value = finals[0]
        if len(finals) > 1:
            cat = next((u for u in g.consumers.get(finals[0], []) if u.op_type == "Concat"), None)
            if cat is None:
                break
            used.append(cat)
            value = cat.output[0]
        ident = next((u for u in g.consumers.get(value, []) if u.op_type == "Identity"), None)
        if ident is None:
            break
        used.append(ident)
        outs.append(ident.output[0])
    if len(outs) > 1:
        kw["state"] = True
    if len(nodes) > 1:
        kw["layers"] = len(nodes)
    if dirs == 2:
        kw["bidirectional"] = True
    if not first.input[3:4] or not first.input[3]:
        kw["bias"] = False
    if kind == "rnn":
        acts = a.get("activations", [])
        if acts and acts[0].lower() == "relu":
            kw["nonlinearity"] = "relu"
    if kind == "gru" and not a.get("linear_before_reset", 0):
        kw["reset"] = "before"
    if kind == "lstm" and len(first.input) > 7 and first.input[7]:
        kw["peephole"] = True
    if initial:
        kw["initial"] = Operands(initial)
    if lens:
        kw["lengths"] = Operands([lens])
    first_weight = weights["weight_ih_l0"][0]
    name = layer_name(first, first_weight, "weight_ih_l0")
    return Layer(kind, [x, *initial, *([lens] if lens else [])], outs, name, args=(hidden,),
                 kwargs=kw, weights={k: v for k, (_, v) in weights.items()}), used


PATTERNS = {"Transpose": [from_time_major], "Cast": [from_lengths]}
MATCHERS: dict = {}
