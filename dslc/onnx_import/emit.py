"""Writing the spec: layers as `x -> op(args)` chains (a value read once, by the next layer,
is piped on instead of named), binary ops as `a + b`, hyperparameters only where they differ
from the op's defaults, `name=` only where the graph's name is not the one dslc would give
(mirroring the elaborator's `kind_<n>` counters per scope), lines wrapped before `->`."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..ops import OPS

KEYWORDS = {"model", "block", "input", "output", "return", "if", "else", "and", "or", "not",
            "import", "where", "true", "false", "int", "float", "bool"}
WIDTH = 96


def ident(s) -> bool:
    return isinstance(s, str) and s.isidentifier() and s not in KEYWORDS


class Name(str):
    """A value's name in the spec, written bare."""


def ref(name: str) -> Name:
    """A layer or block call named in a `tie=`: bare, or a string where it has dots."""
    return Name(name if ident(name) else f'"{name}"')


class Operands:
    """A keyword that takes tensors (`lengths=len`, `initial=(h, c)`): the graph values, which
    are also the layer's last inputs."""

    def __init__(self, values):
        self.values = tuple(values)

    def __eq__(self, other):
        return isinstance(other, Operands) and other.values == self.values

    def __hash__(self):
        return hash(self.values)


def literal(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if float(np.float32(v)) == v:       # a float32 attribute: its shortest spelling
            return np.format_float_positional(np.float32(v), unique=True, trim="0")
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(literal(x) for x in v) + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {literal(x)}" for k, x in v.items()) + "}"
    return str(v)


def call(kind: str, args=(), kwargs=None, name: str | None = None, operands=()) -> str:
    """`kind(operands..., args..., k=v..., name=n)`, or the bare kind when it takes nothing;
    keyword values equal to the op's defaults are left out."""
    fields = getattr(OPS[kind], "model_fields", {}) if kind in OPS else {}
    kw = {k: v for k, v in (kwargs or {}).items() if k not in fields or fields[k].default != v}
    parts = list(operands) + [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kw.items()]
    if name is not None:
        parts.append(f"name={name}")
    return f"{kind}({', '.join(parts)})" if parts else kind


class Namer:
    """The elaborator's naming in one scope: an unnamed layer of kind k gets `k_<n>`, the
    next n whose name is not taken; an explicit name takes its name and no number. `given`
    keeps the name each graph name got; a block body's namer knows its call's graph `prefix`
    and the model's namer (`outer`), for the owners of ties."""

    def __init__(self):
        self.counters: Counter = Counter()
        self.taken: set[str] = set()
        self.given: dict[str, str] = {}
        self.prefix, self.outer = None, None

    def peek(self, kind: str) -> str:
        n = self.counters[kind] + 1
        while f"{kind}_{n}" in self.taken:
            n += 1
        return f"{kind}_{n}"

    def auto(self, kind: str) -> str:
        name = self.peek(kind)
        self.counters[kind] = int(name.rsplit("_", 1)[1])
        self.taken.add(name)
        return name

    def choose(self, kind: str, wanted: str | None) -> str | None:
        """The `name=` to write for a layer the graph calls `wanted` (None: dslc's own)."""
        if wanted is None or wanted == self.peek(kind) or not ident(wanted) or wanted in self.taken:
            name = self.auto(kind)
            if wanted is not None:
                self.given[wanted] = name
            return None
        self.taken.add(wanted)
        self.given[wanted] = wanted
        return wanted

    def spec(self, layer: str) -> str:
        """The spec's name for the layer or block call the graph calls `layer`: in a block body
        a layer of the same call by its local name, else the model's name for it (a layer in a
        block call under the call's name)."""
        if self.prefix and layer.startswith(self.prefix):
            local = layer[len(self.prefix):]
            return self.given.get(local, local)
        if self.outer is not None:
            return self.outer.spec(layer)
        call, _, local = layer.rpartition(".")
        if layer not in self.given and call in self.given:
            return f"{self.given[call]}.{local}"
        return self.given.get(layer, layer)


def wrap(head: str, pipes: list[str], indent: str) -> str:
    """`head -> pipe -> ...`, broken before a `->` where a line would pass WIDTH."""
    first, *rest = head.split(" -> ")
    lines, cur = [], first
    for p in [piece for p in rest + pipes for piece in p.split(" -> ")]:
        if len(cur) + 4 + len(p) > WIDTH and cur.strip():
            lines.append(cur)
            cur = indent + "    -> " + p
        else:
            cur += " -> " + p
    return "\n".join(lines + [cur])


class Scope:
    """Statements of a model or block body. `refs` names the values already in scope (the
    inputs), `outputs` maps a value to the graph outputs it is, `result` is a block's return
    value."""

    def __init__(self, items, refs: dict, outputs: dict, result: str | None = None, indent="    "):
        self.items, self.refs, self.outputs, self.result = items, dict(refs), outputs, result
        self.indent, self.namer, self.lines, self.n = indent, Namer(), [], 0
        self.uses = Counter(v for it in items for v in it.inputs)
        for v, names in outputs.items():
            self.uses[v] += len(names)
        if result is not None:
            self.uses[result] += 1

    def render(self) -> list[str]:
        head = pipes = value = None
        it_infix = False
        for it in self.items:
            if value is not None and it.pipeable and [it.inputs[0]] == value and \
                    self.uses[value[0]] == 1:
                if not pipes and it_infix:
                    head = f"({head})"          # `(a + b) -> relu`
                pipes.append(it.piped(self.namer, self.refs))
                value = it.outputs
                if len(it.outputs) > 1:
                    self._flush(head, pipes, value)
                    value = None
                continue
            if value is not None:
                self._flush(head, pipes, value)
            head = it.head(self.namer, [self.refs[v] for v in it.inputs[:it.primary]], self.refs)
            pipes, value, it_infix = [], it.outputs, it.infix_head
            if len(it.outputs) > 1:
                self._flush(head, pipes, value)
                value = None
        if value is not None:
            self._flush(head, pipes, value)
        return self.lines

    def _flush(self, head: str, pipes: list[str], values: list[str]) -> None:
        if len(values) == 1:
            return self._flush1(head, pipes, values[0])
        if all(self.outputs.get(v) for v in values):      # `output y, h, c = x -> lstm(...)`
            names = [self.outputs[v][0] for v in values]
            self.lines.append(wrap(f"{self.indent}output {', '.join(names)} = {head}", pipes,
                                   self.indent))
            for v, n in zip(values, names):
                self.lines += [f"{self.indent}output {m} = {n}" for m in self.outputs[v][1:]]
                self.refs[v] = n
            return
        names = []
        for v in values:
            self.n += 1
            names.append(f"h{self.n}")
            self.refs[v] = names[-1]
        self.lines.append(wrap(f"{self.indent}{', '.join(names)} = {head}", pipes, self.indent))
        for v, n in zip(values, names):
            self.lines += [f"{self.indent}output {m} = {n}" for m in self.outputs.get(v, [])]

    def _flush1(self, head: str, pipes: list[str], value: str) -> None:
        names = self.outputs.get(value, [])
        if value == self.result:
            self.lines.append(wrap(f"{self.indent}return {head}", pipes, self.indent))
            return
        if names:
            self.lines.append(wrap(f"{self.indent}output {names[0]} = {head}", pipes, self.indent))
            self.lines += [f"{self.indent}output {n} = {names[0]}" for n in names[1:]]
            self.refs[value] = names[0]
            return
        self.n += 1
        var = f"h{self.n}"
        self.lines.append(wrap(f"{self.indent}{var} = {head}", pipes, self.indent))
        self.refs[value] = var


class LayerItem:
    """One layer as a statement's head (`x -> dense(10)`, `a + b`, `(a, b) -> concat`) or a
    pipe (`dense(10)`); `wanted` is the name the graph gives it in this scope."""

    def __init__(self, layer, wanted: str | None):
        self.layer, self.wanted = layer, wanted
        self.inputs, self.outputs = layer.inputs, layer.outputs
        self.primary = len(layer.inputs) - sum(len(v.values) for v in layer.kwargs.values()
                                               if isinstance(v, Operands))
        self.pipeable = layer.infix is None and self.primary == 1
        self.infix_head = False

    def _kwargs(self, refs, namer) -> dict:
        """The kwargs with tensor operands (`initial=(h, c)`) written as their names, and the
        ties: `tie=enc` when every parameter is one layer's, else `tie={weight: enc}`."""
        out = {}
        for k, v in self.layer.kwargs.items():
            if isinstance(v, Operands):
                names = [refs[x] for x in v.values]
                v = Name(names[0]) if len(names) == 1 else tuple(Name(n) for n in names)
            out[k] = v
        ties = {k: ref(namer.spec(v)) for k, v in self.layer.ties.items()}
        if ties:
            whole = set(ties) == set(self.layer.weights) and len(set(ties.values())) == 1
            out["tie"] = next(iter(ties.values())) if whole else ties
        return out

    def _call(self, namer, refs, operands=()) -> str:
        l = self.layer
        return call(l.kind, l.args, self._kwargs(refs, namer), namer.choose(l.kind, self.wanted),
                    operands)

    def piped(self, namer, refs=None) -> str:
        return self._call(namer, refs)

    def head(self, namer, ops: list[str], refs=None) -> str:
        l = self.layer
        if self.pipeable:
            return f"{ops[0]} -> {self._call(namer, refs)}"
        if l.kind == "concat":
            return f"({', '.join(ops)}) -> {self._call(namer, refs)}"
        name = namer.choose(l.kind, self.wanted)
        if l.infix is None or name is not None:
            return call(l.kind, l.args, self._kwargs(refs, namer), name, ops)
        self.infix_head = True
        if "scalar" not in l.kwargs:
            return f"{ops[0]} {l.infix} {ops[1]}"
        number = literal(l.kwargs["scalar"])
        if l.kwargs.get("reverse"):
            return f"{number} {l.infix} {ops[0]}"
        return f"{ops[0]} {l.infix} {number}"
