"""Scan (scan): dslc's Scan of one sequence along axis 1, its body the cell, a block written from
the body's own layers (named `<scan>.<Cell>_1.<layer>`, their weights read from the main
graph): `block Cell(x: [N, F], s1: [N, K], ...) { ...; return y, s1', ... }` (the body takes
the states, then the step, and gives the new states, then y). The initial states are graph
tensors (initial=) or dslc's zeros (ConstantOfShape); the outputs are the Identities
`<scan>.ys` and, with state=true, `<scan>.final` of each state."""
from __future__ import annotations

import re

from .emit import LayerItem, Name, Operands, Scope
from .graph import Graph, Layer, attrs, fail, part_of


def _reads(graph) -> tuple[set, set]:
    """(the values a graph's nodes read, those it makes), nested bodies included."""
    reads = {i for n in graph.node for i in n.input if i}
    made = {o for n in graph.node for o in n.output} | {v.name for v in graph.input} | \
        {t.name for t in graph.initializer}
    for n in graph.node:
        for a in n.attribute:
            if a.HasField("g"):
                inner = _reads(a.g)
                reads |= inner[0] - inner[1]
    return reads, made


def _body(g, node, body):
    """The body as a model of its own, the main graph's constants it reads its initializers."""
    from onnx import helper, numpy_helper
    reads, made = _reads(body)
    outer = sorted(reads - made)
    if missing := [v for v in outer if v not in g.consts]:
        raise fail(node, f"its body reads '{missing[0]}', a tensor of the main graph")
    inits = [*body.initializer, *(numpy_helper.from_array(g.consts[v], v) for v in outer)]
    graph = helper.make_graph(body.node, body.name, body.input, body.output, initializer=inits,
                              value_info=body.value_info)
    return helper.make_model(graph, opset_imports=g.proto.opset_import)


def _port(dims, name: str) -> str:
    """`x: [N, 4]`: a dim of unknown size a symbol of its own."""
    return f"{name}: [{', '.join(str(d or f'{name.upper()}{i}') for i, d in enumerate(dims))}]"


def _zeros(g, value) -> bool:
    """Whether `value` is dslc's zero initial state: a ConstantOfShape of 0 sized at run time."""
    from onnx import numpy_helper
    n = g.producer.get(value)
    if n is None or n.op_type != "ConstantOfShape" or value not in g.static:
        return False
    fill = attrs(n).get("value")
    return fill is None or not numpy_helper.to_array(fill).any()


def _cell(g, node, scan: str):
    """(the cell's block name, its text, the scan's weights by local name)."""
    from .recognise import recognise
    body = attrs(node)["body"]
    sub = Graph(_body(g, node, body))
    layers, aliases = recognise(sub)
    calls = {m.group(1) for l in layers if (m := re.match(re.escape(scan) + r"\.(\w+_\d+)\.",
                                                          l.name or ""))}
    call = calls.pop() if len(calls) == 1 else None
    if call is None or not all((l.name or "").startswith(f"{scan}.{call}.") for l in layers):
        raise fail(node, "its body's layers are not one call of a cell block")
    prefix, block = f"{scan}.{call}.", call.rsplit("_", 1)[0]
    step, states = body.input[-1], body.input[:-1]
    ports = {step.name: "x", **{v.name: f"s{i + 1}" for i, v in enumerate(states)}}
    scope = Scope([LayerItem(l, l.name[len(prefix):]) for l in layers], ports, {})
    scope.namer.prefix = prefix
    results = [aliases[v.name] for v in (body.output[-1], *body.output[:-1])]
    for v in results:
        scope.uses[v] += 1                  # returned: named, not piped on
    lines = scope.render()
    if any(v not in scope.refs for v in results):
        raise fail(node, "its body returns a tensor it does not compute")
    head = ", ".join(_port(sub.dims.get(v.name, []), ports[v.name]) for v in (step, *states))
    returns = ", ".join(scope.refs[v] for v in results)
    text = "\n".join([f"block {block}({head}) {{", *lines, f"    return {returns}", "}"])
    text = "\n\n".join([*(l.cell for l in layers if l.cell), text])      # the cells of scans in it
    named = scope.namer.given         # a layer's name in the block, where dslc's differs
    weights = {f"{call}.{named.get(l.name[len(prefix):], l.name[len(prefix):])}.{k}": a
               for l in layers for k, a in l.weights.items() if k not in l.ties}
    return block, text, weights


def scan(g, node):
    a = attrs(node)
    directions = {*a.get("scan_input_directions", [0]), *a.get("scan_output_directions", [0])}
    if a.get("num_scan_inputs") != 1 or list(a.get("scan_input_axes", [0])) != [1] or \
            list(a.get("scan_output_axes", [0])) != [1] or len(directions) != 1:
        raise fail(node, "only a Scan of one sequence along axis 1, one direction, is a dslc scan")
    res = list(node.output)
    ys = g.sole_consumer(res[-1])
    name = part_of(ys, "ys")
    if ys is None or ys.op_type != "Identity" or name is None:
        raise fail(node, "its stacked outputs are not read by dslc's Identity `<scan>.ys`")
    states, x = list(node.input[:-1]), node.input[-1]
    zeros = [_zeros(g, s) for s in states]
    if any(zeros) and not all(zeros):
        raise fail(node, "some of its initial states are zeros and some are tensors")
    block, cell, weights = _cell(g, node, name)
    finals = [g.sole_consumer(r) for r in res[:-1]]
    state = any(f is not None for f in finals)
    if state and not all(f is not None and f.op_type == "Identity" and
                         re.fullmatch(re.escape(f"{name}.final") + r"(_\d+)?", f.name)
                         for f in finals):
        raise fail(node, f"its final states are not the Identities '{name}.final'")
    kw = {**({} if all(zeros) else {"initial": Operands(states)}),
          **({"reverse": True} if directions == {1} else {}), **({"state": True} if state else {})}
    outs = [ys.output[0], *(f.output[0] for f in finals if state)]
    inputs = [x, *([] if all(zeros) else states)]
    return Layer("scan", inputs, outs, name, args=(Name(block),), kwargs=kw, weights=weights,
                 cell=cell), [ys, *(f for f in finals if state)]


MATCHERS = {"Scan": scan}
