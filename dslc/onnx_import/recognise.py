"""The graph's nodes, in order, as dslc layers: each node is matched by its operator's
matcher, which may take in the nodes after it that complete its layer (dense's Add of the
bias) or a static node before it (the Transpose of a weight, the Shape and Gathers a Reshape
reads, a recurrent layer's gate reordering), which it then claims; a PATTERNS matcher may take
a node of another family's op as the start of its subgraph. Constant nodes (and Identities of
constants, but for a param's, its layer) are data; an Identity onto a graph output is that
output's name. A weight read by several layers is the first one's, the others tied to it
(ties.py)."""
from __future__ import annotations

from . import (activation, adaptive, attention, conv, dslc_norm, elementwise, indexing, linalg,
               linear, norm, params, recurrent, reduce, resample, scan, shape, shaping, tensor,
               transformer)
from .graph import Graph, ImportFailure, Layer, fail
from .ties import claim

FAMILIES = (linear, conv, norm, activation, tensor, reduce, recurrent, resample, shape,
            attention, transformer, adaptive, shaping, linalg, elementwise, dslc_norm,
            indexing, params, scan)
MATCHERS = {k: v for f in FAMILIES for k, v in f.MATCHERS.items()}
# subgraphs that start with a node of another family's op (an Abs that begins a p-norm): tried
# first, each answering None when the node does not begin its subgraph
PATTERNS: dict = {}
for f in FAMILIES:
    for k, fns in getattr(f, "PATTERNS", {}).items():
        PATTERNS.setdefault(k, []).extend(fns)


def importable() -> str:
    return ", ".join(sorted(MATCHERS))


# ONNX ops dslc has a layer for, which the importer reads only in the subgraphs named here
READ_AS = {**{t: f"{t.lower()} (dslc's form: the time-major Transpose and gate reordering "
                 f"Gathers around the node)" for t in ("RNN", "GRU", "LSTM")}}


def _unread(node) -> ImportFailure:
    where = f"cannot import node '{node.name or node.output[0]}'"
    if node.domain not in ("", "ai.onnx"):
        return ImportFailure(f"{where}: op {node.op_type} of domain '{node.domain}' is no "
                             f"standard ONNX op, and dslc reads only those")
    if node.op_type in READ_AS:
        return ImportFailure(f"{where}: dslc has this ONNX {node.op_type}, but reads it only as "
                             f"{READ_AS[node.op_type]}, which this node's form is not")
    return ImportFailure(f"{where}: ONNX op {node.op_type} has no dslc form (dslc imports "
                         f"{importable()})")


# ops whose constant tensor operands (a layer scale, a position table, a class token, a norm's
# weight written as a Mul; a class token Expanded to the batch) become free tensors,
# `param([...])`, when no pattern took the node
LIFT = {"Add", "Sub", "Mul", "Div", "Pow", "Concat", "Where", "Max", "Min", "Expand"}


def _lift(g: Graph, node) -> list[Layer]:
    """A param layer for each float constant operand of `node` of more than one element (any,
    for a Concat) that only such ops read; the constant is a tensor from then on."""
    out = []
    for i in dict.fromkeys(node.input):
        c = g.const(i)
        if c is None or c.dtype.kind != "f" or c.size == 1 and node.op_type != "Concat" or \
                any(u.op_type not in LIFT for u in g.consumers.get(i, [])):
            continue
        name = i[: -len(".weight")] if i.endswith(".weight") else i
        out.append(Layer("param", [], [i], name, args=([int(s) for s in c.shape],),
                         weights={"weight": c}))
        del g.consts[i]
        g.static.discard(i)
        g.dims[i] = [int(s) for s in c.shape]
    return out


def recognise(g: Graph) -> tuple[list[Layer], dict[str, str]]:
    """(the layers in graph order, {graph output: the value it names}) or ImportFailure."""
    layers, aliases, done, waiting, owners = [], {}, set(), {}, {}
    for node in g.nodes:
        if id(node) in done or all(o in g.consts for o in node.output):     # data
            continue
        if node.op_type == "Identity" and node.output[0] in g.outputs and node.input[0] not in g.consts:
            aliases[node.output[0]] = node.input[0]
            continue
        if all(o in g.static for o in node.output):
            waiting[id(node)] = node            # folded into a later layer, or an error below
            continue
        found = None
        if node.domain in ("", "ai.onnx"):
            found = next((r for p in PATTERNS.get(node.op_type, ()) if (r := p(g, node))), None)
        if found is None and (node.domain not in ("", "ai.onnx") or node.op_type not in MATCHERS):
            raise _unread(node)
        if found is None and node.op_type in LIFT:
            layers += _lift(g, node)
        layer, used = found or MATCHERS[node.op_type](g, node)
        run = layer if isinstance(layer, list) else [layer]     # a node that is several layers
        for layer in run:
            claim(g, node, layer, owners)       # a weight an earlier layer read: tie=
            for i in layer.inputs:
                if i in g.static:           # a tensor computed from weights or shapes alone
                    raise fail((g.upstream(i) or [node])[0], "it computes on constants only and "
                               f"feeds no layer that takes it in{g.unfolded(i)}")
        for n in [node, *used]:       # the shapes, axes and weight reorderings they read
            used += [u for i in n.input if i in g.static for u in g.upstream(i)]
        for u in used:
            done.add(id(u))
            waiting.pop(id(u), None)
        layers += run
    for node in waiting.values():
        raise fail(node, "it computes on constants only and feeds no layer that takes it in"
                   + g.unfolded(node.output[0]))
    for out in g.outputs:
        aliases.setdefault(out, out)
    return layers, aliases
