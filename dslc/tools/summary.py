"""Human and JSON views of checked models (IR only: no torch, no onnx)."""
from __future__ import annotations

from ..ir.dims import Dim


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
        op = n.describe() + (f" (tied to {', '.join(tied)})" if tied else "")
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


def scope_blocks(node) -> list[str]:
    """The block of each scope level of `node.name` (`layer1.0.conv2d_1`: Basic, Basic): a
    named repeat (`Basic(64, name=layer1) * 2`) adds an index level inside its block's call."""
    parts, blocks, out = node.name.split(".")[:-1], iter(node.blocks), []
    for i, part in enumerate(parts):
        out.append(out[-1] if i and part.isdigit() else next(blocks, part))
    return out


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
            out.append({**r, "name": key, "op": f"{scope_blocks(n)[depth]} (block)"})
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


def concrete(model, dims: dict[str, int], batch: int | None = None) -> tuple[dict, int]:
    """(the sizes to substitute, the batch) after checking `dims` against the model: every
    name a symbol of its inputs, every value inside the symbol's `where` domain. A batch symbol
    given in `dims` is the batch (a different `batch` beside it is an error); else `batch` (1).
    ValueError says what does not fit."""
    from ..checks.guards import domain_problem
    symbols = set(model.symbols())
    unknown = sorted(set(dims) - symbols)
    if unknown:
        raise ValueError(f"--dim names {', '.join(unknown)}, not a symbolic dim of model "
                         f"{model.name} (its symbols: {', '.join(sorted(symbols)) or 'none'})")
    problems = [p for s, v in dims.items()
                if (p := domain_problem(s, v, model.constraints.get(s, {})))]
    if problems:
        raise ValueError("; ".join(problems))
    given = {dims[s] for s in batch_symbols(model) if s in dims}
    if len(given) > 1 or (given and batch is not None and batch not in given):
        raise ValueError(f"the batch is {' and '.join(map(str, sorted(given | {batch} - {None})))}: "
                         "give it once, by --batch or by --dim")
    return dims, (given.pop() if given else batch or 1)


def _subs_type(t, dims: dict) -> str:
    return str(t.with_shape(tuple(d.subs(dims) for d in t.shape))) if dims else str(t)


def weight_bytes(model) -> dict[str, int]:
    """Bytes of the parameters and buffers, by their dtype (as built: a precise op's in f32)."""
    from ..checks.memory import _ITEMSIZE, weight_tensors
    out: dict[str, int] = {}
    for _, shape, dtype, _ in weight_tensors(model):
        out[dtype] = out.get(dtype, 0) + _numel(shape) * _ITEMSIZE[dtype]
    return out


def table(model, depth: int | None = None, batch: int = 1, dims: dict | None = None) -> str:
    """The per-layer table (blocks folded below `depth`): name, op, output shape, parameters,
    MACs per example, with `dims` substituted everywhere; then the totals, the weights' memory
    and the activation memory at `batch`."""
    from ..checks.memory import fmt_bytes
    dims = dims or {}
    head = ("layer", "op", "output", "params", "MACs/example")
    rows = grouped_rows(model, depth)
    body = [(r["name"], r["op"], _subs_type(r["shape"], dims), f"{r['params']:,}",
             _fmt(Dim.of(r["macs"]).subs(dims))) for r in rows]
    ins = [(p.name, "input", _subs_type(p.type, dims), "", "") for p in model.inputs]
    lines = _columns([head] + ins + body, right={3, 4})
    total = Dim.of(0)
    for r in rows:
        total = total + r["macs"]
    memory = ", ".join(f"{fmt_bytes(b)} in {dt}" for dt, b in sorted(weight_bytes(model).items()))
    lines += ["", one_line(model)] + _sizes_line(model) + [
              f"{model.params:,} parameters, {model.trainable_params:,} trainable, "
              f"{model.buffers:,} buffer elements, {_fmt(total.subs(dims))} MACs per example",
              f"weights: {memory or '0 B'}",
              f"activations: {_mib(activation_bytes(model, batch, dims))} at batch {batch}"]
    return "\n".join(lines)


def _sizes_line(model) -> list[str]:
    """`valid input sizes: H % 8 == 0, H >= 32; W >= 32`: the domain of each symbol that is
    not a batch. A model that checks fits every size in it (check_domain proves the smallest,
    and the shape rules are monotone), so this is also the smallest input it accepts."""
    from ..checks.guards import describe
    syms = [s for s in model.symbols() if s not in batch_symbols(model)]
    if not syms:
        return []
    return ["valid input sizes: " + "; ".join(describe(s, model.constraints.get(s, {}))
                                               for s in syms)]


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


def compact(model, depth: int | None = None, dims: dict | None = None) -> str:
    """One line per layer in the notation of the 003 slides: `100x100x1 -[4x4, 5]-> 97x97x5`
    (a transposed conv `-[4x4, 5, transposed]->`), blocks nested deeper than `depth` folded
    into one line `-[Block]->`, `dims` substituted."""
    dims = dims or {}
    sub = (lambda t: t.with_shape(tuple(d.subs(dims) for d in t.shape))) if dims else (lambda t: t)
    lines, folded = [], None
    for n in model.nodes:
        parts = n.name.split(".")
        if depth is not None and len(parts) - 1 > depth:
            key = ".".join(parts[:depth + 1])
            if folded and folded[0] == key:           # the block's line so far: extend it
                folded[2] = n.out_types[0]
                lines[-1] = f"{_size(sub(folded[1]))} -[{scope_blocks(n)[depth]}]-> {_size(sub(folded[2]))}"
                continue
            folded = [key, n.in_types[0], n.out_types[0]] if n.in_types else None
            if folded:
                lines.append(f"{_size(sub(folded[1]))} -[{scope_blocks(n)[depth]}]-> {_size(sub(folded[2]))}")
                continue
        folded = None
        label = _label(n)
        if not n.in_types:        # a free parameter: no batch axis, every dim shown
            lines.append(f"() -[{label}]-> " + "x".join(str(d) for d in sub(n.out_types[0]).shape))
            continue
        lines.append(f"{_size(sub(n.in_types[0]))} -[{label}]-> {_size(sub(n.out_types[0]))}")
    return "\n".join(lines)


def _label(n) -> str:
    """`4x4, 5` for a conv (kernel, channels), `maxpool2d 2x2` for a pool, else the op."""
    op = n.op
    k = getattr(op, "kernel_size", None)
    if k is None:
        return n.describe()
    ks = k if isinstance(k, tuple) else (k,) * (n.in_types[0].rank - 2)
    kern = "x".join(map(str, ks))
    if not hasattr(op, "out_channels"):
        return f"{n.kind} {kern}"
    return f"{kern}, {op.out_channels}" + (", transposed" if "transpose" in n.kind else "")


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
    """The `dslc check --json` document: every model, every diagnostic, and `error` (null here;
    a usage or I/O error's line in cli.common.failure_json)."""
    return {"models": [model_json(m) for m in program.models.values()],
            "diagnostics": [d.to_json() for d in program.diagnostics], "error": None}


def summary_json(program, models, depth: int | None = None, batch: int = 1,
                 dims: dict | None = None, compared: bool = False) -> dict:
    """The `dslc summary --json` document: check_json's shape for the chosen `models`, each
    with its layers folded below `depth` (as the table) and carrying their buffers and MACs per
    example, and the totals `macs` (per example) and `activation_bytes` at `batch`; sizes in
    `dims` are substituted, and a count still symbolic is a string. `compared`: the two models
    are a reference and a model, and `compare` holds compare()'s fractions."""
    dims = dims or {}
    out = []
    for m in models:
        layers = [{"name": r["name"], "op": r["op"], "shape": r["shape"].to_json()["shape"],
                   "params": r["params"], "buffers": r["buffers"],
                   "macs": r["macs"].subs(dims).to_json(), "line": r["line"]}
                  for r in grouped_rows(m, depth)]
        out.append({**model_json(m), "layers": layers, "macs": total_macs(m, dims).to_json(),
                    "activation_bytes": activation_bytes(m, batch, dims).to_json(), "batch": batch})
    doc = {"models": out, "diagnostics": [d.to_json() for d in program.diagnostics], "error": None}
    if compared:
        c = compare(*models, dims)
        doc["compare"] = {**c, "params": list(c["params"]), "macs": [d.to_json() for d in c["macs"]]}
    return doc
