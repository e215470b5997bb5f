"""ONNX -> .dl: a readable spec from an ONNX graph, with its weights keyed by dslc's parameter
names, for the ops dslc has (the subgraphs dslc's own ONNX backend emits and the plain forms
torch.onnx.export writes). `import_onnx(proto)` recognises the nodes as layers (recognise.py,
one matcher module per op family), folds repeated blocks (fold.py), writes the spec (emit.py),
checks it with dslc and maps each layer's arrays onto the checked model's parameter names.
An op dslc cannot express is an ImportFailure naming the op, the node and what dslc imports."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..limits import MAX_LAYERS
from .emit import Scope, ident
from .fold import fold
from .graph import DTYPES, Graph, ImportFailure
from .normalise import normalise
from .recognise import importable, recognise
from .validate import invalid

__all__ = ["Imported", "ImportFailure", "import_onnx", "importable", "load_onnx"]


@dataclass
class Imported:
    text: str          # the spec
    model: object      # its checked dslc Model
    weights: dict      # dslc parameter and buffer name -> numpy array


def load_onnx(data: bytes, what: str):
    """An onnx.ModelProto from a file's bytes, or ImportFailure saying why not. Tensors stored
    as external data stay references: validate.validate reads them from the model's folder."""
    import onnx
    from google.protobuf.message import DecodeError
    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ImportFailure(f"'{what}' is not an ONNX model ({type(e).__name__})")
    if not proto.graph.node and not proto.graph.input:
        raise ImportFailure(f"'{what}' is not an ONNX model (it holds no graph)")
    return proto


def import_onnx(proto, source: str = "model.onnx", allow_nonfinite: bool = False) -> Imported:
    """`proto` as a spec and its weights; ImportFailure (one line) for what cannot be imported,
    NaN or inf in a weight included unless `allow_nonfinite` (as `dslc compile --weights`)."""
    given, proto = proto, normalise(proto)
    g = Graph(proto)
    constants = dict(g.consts)          # recognition takes those that become params
    if not g.inputs:
        raise ImportFailure(f"'{source}': the graph has no inputs (dslc models read at least one)")
    layers, aliases = recognise(g)
    if len(layers) > MAX_LAYERS:
        raise ImportFailure(f"'{source}': the graph makes {len(layers):,} layers, more than a "
                            f"dslc spec holds ({MAX_LAYERS:,})")
    refs, decls = _inputs(g)
    outputs: dict[str, list[str]] = {}
    for out in g.outputs:
        if aliases[out] in refs:
            raise ImportFailure(f"'{source}': output '{out}' is the input itself")
        outputs.setdefault(aliases[out], []).append(_fresh(out, "y", {*refs.values(), *(
            n for ns in outputs.values() for n in ns)}))
    reads = [v for l in layers for v in l.inputs]
    uses = lambda v: reads.count(v) + len(outputs.get(v, ()))
    items, blocks = fold(layers, uses, {k: r for k, r in g.ranks.items()})
    name = _fresh(proto.graph.name, "Imported", set())
    scope = Scope(items, refs, outputs)
    body = scope.render()

    def text(domain: dict) -> str:
        model = "\n".join([f"model {name} {{", *_declare(decls, domain), *body, "}"])
        return "\n\n".join([f"# imported by dslc from {source}", *(l.cell for l in layers if l.cell),
                            *(b.text(scope.namer) for b in blocks), model]) + "\n"
    imported = _check(text, layers, source, given)
    if not allow_nonfinite:
        _finite(imported.weights, constants, source)
    return imported


def _finite(weights: dict, constants: dict, source: str) -> None:
    """ImportFailure naming the first weight holding NaN or inf, and the graph's constant it
    comes from: the one it is a view of, else one of its size holding as many (a transposed
    copy)."""
    import numpy as np

    def bad(a) -> int:
        if a.dtype.kind not in "fV":
            return 0
        return a.size - int(np.isfinite(a.astype(np.float32) if a.dtype.kind == "V" else a).sum())
    for k, a in weights.items():
        if not bad(a):
            continue
        near = [n for n, c in constants.items() if c.size == a.size and bad(c) == bad(a)]
        init = next((n for n in near if np.may_share_memory(constants[n], a)),
                    near[0] if near else None)
        raise ImportFailure(f"'{source}': NaN or inf in " + (
            f"the graph's initializer '{init}' (parameter {k})" if init else f"parameter {k}")
            + " (--allow-nonfinite imports them as they are)")


def _inputs(g: Graph):
    """{graph input: spec name} and each input's (name, dtype, dims)."""
    refs, decls = {}, []
    for v in g.inputs:
        t = v.type.tensor_type
        if t.elem_type not in DTYPES:
            raise ImportFailure(f"input '{v.name}' has an element type dslc lacks ({t.elem_type})")
        dims = []
        for i, d in enumerate(t.shape.dim):
            if d.HasField("dim_value"):
                dims.append(str(d.dim_value))
            else:
                dims.append(d.dim_param if ident(d.dim_param) else f"D{len(refs)}_{i}")
        refs[v.name] = _fresh(v.name, "x", set(refs.values()))
        decls.append((refs[v.name], DTYPES[t.elem_type], dims))
    return refs, decls


def _declare(decls, domain: dict) -> list[str]:
    """`input x: f32[N, 3, H, W] where H % 16 == 0, H >= 32`: each symbol's constraints go
    on the first input that has it."""
    lines, done = [], set()
    for name, dtype, dims in decls:
        rules = []
        for d in dict.fromkeys(dims):
            if d in domain and d not in done:
                done.add(d)
                mod, low = domain[d].get("mod"), domain[d].get("min")
                rules += ([f"{d} % {mod} == 0"] if mod else []) + ([f"{d} >= {low}"] if low else [])
        lines.append(f"    input {name}: {dtype}[{', '.join(dims)}]"
                     + (f" where {', '.join(rules)}" if rules else ""))
    return lines


def _fresh(name: str, fallback: str, taken: set[str]) -> str:
    base = name if ident(name) else (re.sub(r"\W", "_", name).strip("_") or fallback)
    base = base if ident(base) else fallback
    out, i = base, 1
    while out in taken:
        i += 1
        out = f"{base}{i}"
    return out


def _check(text, layers, source: str, given) -> Imported:
    """Check the spec written for `domain` (the symbols' constraints, which an ONNX graph does
    not state: each round adds the first condition each diagnostic `requires`, such as
    `H >= 32` or `H % 16 == 0`), then map the layers' arrays onto the checked model's
    parameter names: its nodes are the layers, in order."""
    from math import lcm

    from ..api import check_text
    domain: dict[str, dict] = {}
    for _ in range(16):
        spec = text(domain)
        program = check_text(spec, source.rsplit(".", 1)[0] + ".dl")
        needs = [d.requires[0] for d in program.errors if d.requires]
        if not program.errors or len(needs) < len(program.errors):
            break
        for r in needs:
            rule = domain.setdefault(r.symbol, {})
            rule[r.kind] = max(rule.get("min", 1), r.value) if r.kind == "min" else \
                lcm(rule.get("mod", 1), r.value)
    if program.errors:
        d = program.errors[0]
        if d.code == "E307":        # a limit of every spec's: the graph is too large, no bug
            raise ImportFailure(f"'{source}': the graph is too large for a dslc spec: the spec "
                                f"written from it passes a limit ({d.code} {d.message})")
        line = spec.splitlines()[d.span.line - 1].strip() if 0 < d.span.line <= \
            len(spec.splitlines()) else ""
        why = invalid(given)
        raise ImportFailure(f"'{source}': " + (f"the graph is not valid ONNX ({why}): " if why
                                                 else "") + f"the spec dslc wrote from it does "
                            f"not check ({d.code} {d.message}, at `{line}`)" + (
                                "" if why else ": an importer bug, please report it"))
    model = next(iter(program.models.values()))
    if [n.kind for n in model.nodes] != [l.kind for l in layers]:
        raise ImportFailure(f"'{source}': the written spec's layers differ from the graph's")
    weights = {}
    for node, layer in zip(model.nodes, layers):
        for local, array in layer.weights.items():
            weights[node.pname(local)] = array
    for k, shape in {**model.param_shapes(), **model.buffer_shapes()}.items():
        if k not in weights or tuple(weights[k].shape) != tuple(shape):
            got = tuple(weights[k].shape) if k in weights else "nothing"
            raise ImportFailure(f"'{source}': parameter {k} wants shape {tuple(shape)}, the graph "
                                f"gives {got}")
    return Imported(spec, model, weights)
