"""Human and JSON views of checked models (IR only: no torch, no onnx)."""
from __future__ import annotations

from .dims import Dim


def batch_symbols(model) -> set[str]:
    """Symbols that stand for the batch: the first dim of each input, when symbolic."""
    return {str(p.type.shape[0]) for p in model.inputs if p.type.rank and not p.type.shape[0].is_const()}


def macs_per_example(model, node) -> Dim:
    return node.macs().subs({s: 1 for s in batch_symbols(model)})


def layer_rows(model) -> list[dict]:
    rows = []
    for n in model.nodes:
        buffers = sum(_numel(s) for s in n.buffer_shapes().values())
        tied = sorted({n.owner_of(k) for k in n.op.params(*n.in_types)} - {n.name})
        op = n.op.describe() + (f" (tied to {', '.join(tied)})" if tied else "")
        rows.append({"name": n.name, "op": op, "shape": n.out_types[0],
                     "params": n.own_params(), "buffers": buffers,
                     "macs": macs_per_example(model, n), "line": n.span.line})
    return rows


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _fmt(d) -> str:
    d = Dim.of(d)
    return f"{d.value:,}" if d.is_const() else str(d)


def one_line(model) -> str:
    outs = ", ".join(f"{p.name}: {p.type}" for p in model.outputs)
    extra = []
    if model.trainable_params != model.params:
        extra.append(f"{model.trainable_params:,} trainable")
    if model.buffers:
        extra.append(f"{model.buffers:,} buffer elements")
    more = f" ({', '.join(extra)})" if extra else ""
    return f"{model.name}: {model.params:,} parameters{more}; {outs}"


def grouped_rows(model, depth: int | None) -> list[dict]:
    """Layer rows with everything below `depth` block levels folded into its block's row
    (params and MACs summed, the block's last output shown)."""
    rows = layer_rows(model)
    if depth is None:
        return rows
    out: list[dict] = []
    for r, n in zip(rows, model.nodes):
        parts = n.name.split(".")
        if len(parts) - 1 <= depth:
            out.append(r)
            continue
        key = ".".join(parts[:depth + 1])
        if out and out[-1]["name"] == key:
            g = out[-1]
            g.update(shape=r["shape"], params=g["params"] + r["params"], macs=g["macs"] + r["macs"],
                     buffers=g["buffers"] + r["buffers"])
        else:
            out.append({**r, "name": key, "op": f"{n.blocks[depth]} (block)"})
    return out


_BYTES = {"f16": 2, "bf16": 2, "f32": 4, "f64": 8, "i8": 1, "u8": 1, "i32": 4, "i64": 8, "bool": 1}


def activation_bytes(model, batch: int, dims: dict[str, int]) -> Dim:
    env = {**{s: batch for s in batch_symbols(model)}, **dims}
    total = Dim.of(0)
    for n in model.nodes:
        for t in n.out_types:
            size = Dim.of(_BYTES[t.dtype])
            for d in t.shape:
                size = size * d
            total = total + size.subs(env)
    return total


def _mib(b: Dim) -> str:
    return f"{b.value / 2 ** 20:,.1f} MiB" if b.is_const() else f"{b} bytes"


def table(model, depth: int | None = None, batch: int = 1, dims: dict | None = None) -> str:
    """The per-layer table (blocks folded below `depth`): name, op, output shape, parameters,
    MACs per example; then the totals and the activation memory at `batch`."""
    head = ("layer", "op", "output", "params", "MACs/example")
    rows = grouped_rows(model, depth)
    body = [(r["name"], r["op"], str(r["shape"]), f"{r['params']:,}", _fmt(r["macs"])) for r in rows]
    ins = [(p.name, "input", str(p.type), "", "") for p in model.inputs]
    lines = _columns([head] + ins + body, right={3, 4})
    total_macs = Dim.of(0)
    for r in rows:
        total_macs = total_macs + r["macs"]
    lines += ["", one_line(model),
              f"{model.params:,} parameters, {model.trainable_params:,} trainable, "
              f"{model.buffers:,} buffer elements, {_fmt(total_macs)} MACs per example",
              f"activations: {_mib(activation_bytes(model, batch, dims or {}))} at batch {batch}"]
    return "\n".join(lines)


def total_macs(model, dims: dict | None = None) -> Dim:
    """MACs per example of the whole model, with the given sizes substituted."""
    total = Dim.of(0)
    for n in model.nodes:
        total = total + macs_per_example(model, n)
    return total.subs(dims or {})


def compare(reference, model, dims: dict | None = None) -> dict:
    """`model` against `reference` (a student against its teacher): both counts and the
    fractions model / reference of the parameters and of the MACs per example. A fraction is
    None when the reference has none, or (MACs) when a size is still symbolic after `dims`."""
    ref_macs, macs = total_macs(reference, dims), total_macs(model, dims)
    symbolic = sorted(ref_macs.symbols() | macs.symbols())
    macs_ratio = None
    if not symbolic and ref_macs.value:
        macs_ratio = macs.value / ref_macs.value
    return {"reference": reference.name, "model": model.name,
            "params": (reference.params, model.params),
            "params_ratio": model.params / reference.params if reference.params else None,
            "macs": (ref_macs, macs), "macs_ratio": macs_ratio, "symbolic": symbolic}


def _pct(r: float) -> str:
    return f"{100 * r:.1f}%" if r == 0 or 100 * r >= 0.1 else f"{100 * r:.2g}%"


def compare_line(reference, model, dims: dict | None = None) -> str:
    """One line: `Student has 1/15.8 of Teacher's parameters (6.3%) and 7.3% of its MACs`."""
    c = compare(reference, model, dims)
    a, b = c["model"], c["reference"]
    r = c["params_ratio"]
    if r is None:
        params = f"{c['params'][1]:,} parameters, {b} none"
    elif r == 0:
        params = f"no parameters, {b} {c['params'][0]:,}"
    elif r <= 1:
        params = f"1/{1 / r:.1f} of {b}'s parameters ({_pct(r)})"
    else:
        params = f"{r:.1f}x {b}'s parameters"
    if c["symbolic"]:
        macs = f"its MACs per example depend on {', '.join(c['symbolic'])} (give --dim)"
    elif c["macs_ratio"] is None:
        macs = f"{c['macs'][1].value:,} MACs per example, {b} none"
    elif c["macs_ratio"] <= 1:
        macs = f"{_pct(c['macs_ratio'])} of its MACs per example"
    else:
        macs = f"{c['macs_ratio']:.1f}x its MACs per example"
    return f"{a} has {params}; {macs}" if c["symbolic"] or c["macs_ratio"] is None \
        else f"{a} has {params} and {macs}"


def _columns(rows, right=frozenset()) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _size(t) -> str:
    """The slides' notation: spatial sizes then channels, `100x100x1`; features alone for [N, F]."""
    dims = [str(d) for d in t.shape[1:]]
    if t.rank >= 3:
        dims = dims[1:] + dims[:1]
    return "x".join(d if " " not in d else f"({d})" for d in dims)


def compact(model) -> str:
    """One line per layer in the notation of the 003 slides: `100x100x1 -[4x4, 5]-> 97x97x5`."""
    lines = []
    for n in model.nodes:
        op = n.op
        k = getattr(op, "kernel_size", None)
        if k is not None:
            ks = k if isinstance(k, tuple) else (k,) * (n.in_types[0].rank - 2)
            kern = "x".join(map(str, ks))
            label = f"{kern}, {op.out_channels}" if hasattr(op, "out_channels") else f"{n.kind} {kern}"
        else:
            label = op.describe()
        if not n.in_types:        # a free parameter: no batch axis, every dim shown
            lines.append(f"() -[{label}]-> " + "x".join(str(d) for d in n.out_types[0].shape))
            continue
        lines.append(f"{_size(n.in_types[0])} -[{label}]-> {_size(n.out_types[0])}")
    return "\n".join(lines)


def model_json(model) -> dict:
    return {
        "name": model.name, "params": model.params, "trainable_params": model.trainable_params,
        "buffers": model.buffers,
        "inputs": {p.name: p.type.to_json() for p in model.inputs},
        "outputs": {p.name: p.type.to_json() for p in model.outputs},
        "layers": [{"name": r["name"], "op": r["op"], "shape": r["shape"].to_json()["shape"],
                    "params": r["params"], "line": r["line"]} for r in layer_rows(model)],
    }


def check_json(program) -> dict:
    return {"models": [model_json(m) for m in program.models.values()],
            "diagnostics": [d.to_json() for d in program.diagnostics]}
