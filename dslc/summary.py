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
        rows.append({"name": n.name, "op": n.op.describe(), "shape": n.out_types[0],
                     "params": n.params(), "buffers": buffers,
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


def table(model) -> str:
    """The per-layer table: name, op, output shape, parameters, MACs per example."""
    head = ("layer", "op", "output", "params", "MACs/example")
    body = [(r["name"], r["op"], str(r["shape"]), f"{r['params']:,}", _fmt(r["macs"]))
            for r in layer_rows(model)]
    ins = [(p.name, "input", str(p.type), "", "") for p in model.inputs]
    rows = [head] + ins + body
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    right = {3, 4}
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                       for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total_macs = Dim.of(0)
    for r in layer_rows(model):
        total_macs = total_macs + r["macs"]
    lines += ["", one_line(model),
              f"{model.params:,} parameters, {model.trainable_params:,} trainable, "
              f"{model.buffers:,} buffer elements, {_fmt(total_macs)} MACs per example"]
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
