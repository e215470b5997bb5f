"""ONNX subgraphs shared by several ops (kept out of the op classes when they are long)."""
from __future__ import annotations


def _axis_bounds(b, node, x: str, axis: int, size, out: int, i: int):
    """(start, end) of torch's adaptive window i on `axis`: floor(i*S/o), ceil((i+1)*S/o),
    as int64 [1] tensors; computed at run time when S is symbolic."""
    if size.is_const():
        s = size.value
        return b.ints([i * s // out]), b.ints([-(-(i + 1) * s // out)])
    shape = b.node("Shape", [x], name=f"{node.name}.shape", start=axis, end=axis + 1)[0]
    lo = b.node("Div", [b.node("Mul", [shape, b.ints([i])], name=f"{node.name}.mul")[0],
                        b.ints([out])], name=f"{node.name}.start")[0]
    hi_num = b.node("Add", [b.node("Mul", [shape, b.ints([i + 1])], name=f"{node.name}.mul")[0],
                            b.ints([out - 1])], name=f"{node.name}.add")[0]
    hi = b.node("Div", [hi_num, b.ints([out])], name=f"{node.name}.end")[0]
    return lo, hi


MAX_ADAPTIVE_WINDOWS = 4096      # Slice + Reduce pairs one adaptive pool may lower to


def adaptive_pool(b, node, x: str, y: str, reduce: str) -> None:
    """Adaptive pooling, exactly as torch computes it. A pool over a box is separable (the max
    of maxes; the mean of equal-length means), so each spatial axis is reduced in turn: a plain
    pool where the size divides evenly, else one Slice + Reduce per output window + Concat."""
    t_in, t_out = node.in_types[0], node.out_types[0]
    ins, outs = t_in.shape[2:], [d.value for d in t_out.shape[2:]]
    if all(s.is_const() and s.value % o == 0 for s, o in zip(ins, outs)):
        ks = [s.value // o for s, o in zip(ins, outs)]
        b.node("AveragePool" if reduce == "mean" else "MaxPool", [x], [y], name=node.name,
               kernel_shape=ks, strides=ks)
        return
    op = "ReduceMean" if reduce == "mean" else "ReduceMax"
    windows = sum(out for size, out in zip(ins, outs) if size != out)
    if windows > MAX_ADAPTIVE_WINDOWS:
        from ...ops.base import Unsupported
        raise Unsupported(f"adaptive pooling to {'x'.join(map(str, outs))} windows of uneven "
                          f"size is a Slice per window in ONNX: {windows:,}, over "
                          f"{MAX_ADAPTIVE_WINDOWS:,}")
    cur = x
    for j, (size, out) in enumerate(zip(ins, outs)):
        axis = j + 2
        last = j == len(outs) - 1
        if size == out:
            if last:
                b.node("Identity", [cur], [y], name=node.name)
            continue
        parts = []
        for i in range(out):
            lo, hi = _axis_bounds(b, node, cur, axis, size, out, i)
            sl = b.node("Slice", [cur, lo, hi, b.ints([axis])], name=f"{node.name}.slice")[0]
            parts.append(b.node(op, [sl, b.ints([axis])], name=f"{node.name}.reduce", keepdims=1)[0])
        cur = b.node("Concat", parts, [y] if last else None, name=f"{node.name}.concat", axis=axis)[0]


def shape_tensor(b, node, ins, plan) -> str:
    """A 1-D int64 shape for Reshape from a layout plan (see ops.layout.reshape_plan): ints
    and -1 as they are, ("copy", j) as 0 when j is the same position, else gathered at run
    time, ("dims", d) computed (dims_tensor)."""
    pieces, run = [], []
    for i, p in enumerate(plan):
        if isinstance(p, tuple) and p != ("copy", i):
            if run:
                pieces.append(b.ints(run))
                run = []
            pieces.append(dims_tensor(b, node, ins, [p[1]]) if p[0] == "dims" else
                          b.node("Shape", [ins[0]], name=f"{node.name}.dim", start=p[1], end=p[1] + 1)[0])
        else:
            run.append(0 if isinstance(p, tuple) else p)
    if run:
        pieces.append(b.ints(run))
    return pieces[0] if len(pieces) == 1 else b.node("Concat", pieces, name=f"{node.name}.shape",
                                                     axis=0)[0]


def scan(op, b, node, ins, outs) -> None:
    """An ONNX Scan along axis 1 (batch-first needs no transpose here). The body is lowered
    into a subgraph that reads the weights from the main graph's initializers."""
    from onnx import helper

    from .builder import value_info
    body, n = op.body, op.n_states
    sub = b.sub()
    for inner in body.nodes:
        sub.lower(inner, list(inner.inputs), list(inner.outputs))
    results = []
    for p in list(body.outputs[1:]) + [body.outputs[0]]:      # states first, then y_t
        name = sub.fresh(f"{node.name}.body_out")
        sub.node("Identity", [p.value], [name], name=f"{node.name}.body_out")
        results.append(value_info(name, p.type))
    graph = helper.make_graph(sub.nodes, f"{node.name}_body",
                              [value_info(p.value, p.type) for p in list(body.inputs[1:]) + [body.inputs[0]]],
                              results)
    initial = list(ins[1:1 + op.initial]) if op.initial else [
        _zeros(b, node, ins[0], p.type) for p in body.inputs[1:]]
    direction = [int(op.reverse)]
    res = b.node("Scan", initial + [ins[0]], n + 1, name=node.name, body=graph, num_scan_inputs=1,
                 scan_input_axes=[1], scan_output_axes=[1], scan_input_directions=direction,
                 scan_output_directions=direction)
    b.node("Identity", [res[n]], [outs[0]], name=f"{node.name}.ys")
    if op.state:
        for state, out in zip(res[:n], outs[1:]):
            b.node("Identity", [state], [out], name=f"{node.name}.final")


def _zeros(b, node, x: str, t) -> str:
    """Zeros of a state's type (its dtype too); a symbolic dim is the batch size of x."""
    import numpy as np
    from onnx import numpy_helper

    from .builder import np_dtype
    parts = [b.node("Shape", [x], name=f"{node.name}.batch", start=0, end=1)[0] if not d.is_const()
             else b.ints([d.value]) for d in t.shape]
    shape = b.node("Concat", parts, name=f"{node.name}.state_shape", axis=0)[0]
    zero = numpy_helper.from_array(np.zeros(1, np_dtype(t.dtype)), "zero")
    return b.node("ConstantOfShape", [shape], name=f"{node.name}.zeros", value=zero)[0]


def dims_tensor(b, node, ins, dims) -> str:
    """A 1-D int64 tensor holding `dims` (Dims, possibly symbolic) at run time: each symbol is
    read from the input dim that is that symbol (ops.base.symbol_sources; the elaborator has
    appended an input for each), then the expression is folded (Dim.fold) into integer
    Mul/Add/Div nodes (its divisions are exact or floors, as in the IR; the numerators of
    sizes are never negative, where ONNX's truncating Div is a floor)."""
    from ...ops.base import symbol_sources
    src = symbol_sources(node.in_types)
    read: dict[str, str] = {}

    def leaf(sym: str) -> str:
        if sym not in read:
            k, axis = src[sym]
            read[sym] = b.node("Shape", [ins[k]], name=f"{node.name}.dim", start=axis, end=axis + 1)[0]
        return read[sym]

    def add(x: str, y: str) -> str:
        return b.node("Add", [x, y], name=f"{node.name}.add")[0]

    def mul(x: str, y: str) -> str:
        return b.node("Mul", [x, y], name=f"{node.name}.mul")[0]

    def div(x: str, k: int) -> str:
        return b.node("Div", [x, b.ints([k])], name=f"{node.name}.div")[0]

    parts = [d.fold(leaf, lambda v: b.ints([v]), add, mul, div) for d in dims]
    return parts[0] if len(parts) == 1 else b.node("Concat", parts, name=f"{node.name}.sizes", axis=0)[0]
