"""IR -> the source of a plain Python module (`dslc compile --target torch-src`).

The file imports torch (and typing, math) only. Its module tree is the interpreter's
(backends/torch/module.py): every node's parameters and buffers sit at the node's dotted name, so
state_dicts load both ways with strict=True. On top of that tree:
- a block call whose layers all use parameters of their own (or of layers inside the call)
  becomes an instance of one class per block (`class Basic(nn.Module)`), classes shared by the
  calls whose code is the same; repeats (`layer1.0`, `layer1.1`) sit in an nn.ModuleList;
- a call tied whole to an earlier call of the same block (`Tower(tie=tower)`) runs that
  call's module again; other names with dots are a `Scope` of layers run by the enclosing
  class;
- the model's class takes the spec's inputs by name and returns one tensor or a NamedTuple;
- one statement per node, written by the node's entry in the torch-src table (table.py, one
  module per op family) from the op's fields and the node's IR types, under a comment with its
  spec line.
The text is compiled and the module instantiated on the meta device before it is returned: a
statement that is not Python is an E401 at its node's spec line, a file that does not import or
holds other parameters than the IR's is an internal error.
Noise ops sample from torch's global generator in training mode (the interpreter's per-layer
seeded generators do not script); eval mode is the same in both."""
from __future__ import annotations

import inspect
import keyword
import re
from collections import Counter

from ...diagnostics import Diagnostic
from ...ops.base import Unsupported, symbol_sources
from .. import BackendError, unsupported
from . import runtime
from .code import dtype_expr
from .table import write

# names the generated code itself uses (a spec's `input` or `sum` stays a keyword as spelled)
_RESERVED = {"self", "torch", "nn", "F", "math", "List", "Optional", "Tuple", "NamedTuple",
             "_", "_t", "_y", "_ys", "range"}


def to_torch_src(model) -> str:
    """The source text; BackendError (E401 at the spec line) for a node with no source form."""
    text = _Writer(model).text()
    _check_imports(model, text)
    return text


def _parses(statements: list[str]) -> None:
    """Unsupported (an internal error, located at the node) where an entry wrote no Python."""
    try:
        compile("\n".join(statements), "<torch-src>", "exec")
    except SyntaxError as e:
        raise Unsupported(f"internal error: it wrote `{e.text.strip() if e.text else ''}`, "
                          f"which is not Python ({e.msg})") from None


def _check_imports(model, text: str) -> None:
    """The file compiles, its model class builds on the meta device, and its parameters are the
    IR's (names and shapes): else BackendError, an internal error at the model's line."""
    import torch
    try:
        code = compile(text, f"<torch-src of {model.name}>", "exec")
        space = {"__name__": f"dslc_torch_src_{_ident(model.name)}"}
        exec(code, space)
        with torch.device("meta"):
            module = space[_ident(model.name)]()
    except Exception as e:          # the generated file is ours: any failure is a bug here
        _internal(model, f"the generated file does not import: {type(e).__name__}: {e}")
    got = {k: tuple(v.shape) for k, v in module.named_parameters()}
    want = {k: tuple(v) for k, v in model.param_shapes().items()}
    if got != want:
        wrong = sorted(set(got.items()) ^ set(want.items()))[:3]
        _internal(model, f"the generated module's parameters are not the IR's: {wrong}")


def _internal(model, why: str):
    raise BackendError([Diagnostic("E401", f"internal error in the torch-src backend: {why}",
                                   model.span)], model.sources)


def _ident(text: str) -> str:
    s = re.sub(r"\W", "_", text)
    if not s or s[0].isdigit() or keyword.iskeyword(s) or s in _RESERVED or s in runtime_names():
        s = "v_" + s
    return s


def runtime_names() -> list[str]:
    """The helpers runtime.py defines, in definition order (the order they are copied)."""
    return [n for n, v in vars(runtime).items()
            if getattr(v, "__module__", None) == runtime.__name__]


def _attr(rel: str, base: str = "self") -> str:
    """`self.layer1[0].conv2d_1` for the relative path `layer1.0.conv2d_1`."""
    out = base
    for seg in rel.split("."):
        out += f"[{seg}]" if seg.isdigit() else f".{seg}"
    return out


class _Ctx:
    """What a table entry sees of one node (see table.py)."""

    def __init__(self, cls: "_Class", node, ins: list[str], outs: list[str]):
        self.cls, self.node, self.ins, self.outs = cls, node, ins, outs
        self.rel = cls.rel(node.name)
        self.attr = _attr(self.rel)
        self.lines: list[str] = []
        self.expr: str | None = None
        self.init_expr: str | None = None
        self.tied = any(node.owner_of(k) != node.name for k in node.op.params(*node.in_types))

    def init(self, expr: str) -> None:
        """The node's submodule: `expr` constructs it, holding the node's own parameters."""
        if self.tied:
            raise Unsupported(f"a tied {self.node.op.kind} has no source form")
        self.init_expr = expr

    def module(self, expr: str, *args: str) -> None:
        """A submodule constructed by `expr`, called on `args` (by default the inputs)."""
        self.init(expr)
        self.set(f"{self.attr}({', '.join(args or self.ins)})")

    def set(self, expr: str) -> None:
        self.expr = expr

    def line(self, stmt: str) -> None:
        self.lines.append(stmt)

    def helper(self, name: str) -> None:
        self.cls.writer.helpers.add(name)

    def temp(self, base: str) -> str:
        return self.cls.fresh(f"{self.rel.replace('.', '_')}_{base}")

    def param(self, local: str) -> str:
        owner = self.node.owner_of(local)
        return f"{_attr(self.cls.rel(owner))}.{local}"

    def own_params(self) -> None:
        """A tied node's own parameters (`bias` beside a tied weight), in a Weights module."""
        own = {k: list(s) for k, s in self.node.op.params(*self.node.in_types).items()
               if self.node.owner_of(k) == self.node.name}
        if own:
            self.helper("Weights")
            self.init_expr = "Weights(" + ", ".join(f"{k}={v}" for k, v in own.items()) + ")"

    def dim(self, d) -> str:
        """A size, possibly symbolic, as an expression on the run-time shapes of the node's
        inputs (the elaborator appends a model input for each symbol they lack): Dim.fold,
        as the other backends compute it."""
        if d.is_const():
            return str(d.value)
        sources = symbol_sources(self.node.in_types)
        missing = sorted(s for s in d.symbols() if s not in sources)
        if missing:
            raise Unsupported(f"no input carries the size {missing[0]}")

        def leaf(sym: str) -> str:
            k, axis = sources[sym]
            return f"{self.ins[k]}.shape[{axis}]"
        return d.fold(leaf, str, lambda a, b: f"({a} + {b})", lambda a, b: f"{a} * {b}",
                      lambda a, k: f"({a}) // {k}")

    def scan_class(self) -> str:
        return self.cls.writer.scan_class(self.node.op, self.node)


class _Class:
    """One generated nn.Module class: the nodes under `prefix` (a block call, the model, a
    scan's body), their submodules' tree and the forward statements."""

    def __init__(self, writer: "_Writer", nodes, prefix: str, inputs: list[tuple[str, str]],
                 outputs: list[str], block: str | None):
        self.writer, self.nodes, self.prefix, self.block = writer, list(nodes), prefix, block
        self.inputs, self.outputs = inputs, outputs
        self.names: dict[str, str] = {}
        self.used: set[str] = set()
        self.inits: dict[str, str] = {}         # relative path -> constructor expression
        self.body: list[str] = []

    def rel(self, name: str) -> str:
        return name[len(self.prefix):]

    def fresh(self, base: str) -> str:
        name, k = _ident(base), 2
        while name in self.used:
            name, k = f"{_ident(base)}_{k}", k + 1
        self.used.add(name)
        return name

    def var(self, value: str) -> str:
        if value not in self.names:
            self.names[value] = self.fresh(self.rel(value))
        return self.names[value]

    # ---- forward ----
    def build(self) -> None:
        for value, arg in self.inputs:
            self.names[value] = arg
            self.used.add(arg)
        w = self.writer
        seen_line = None
        i = 0
        while i < len(self.nodes):
            n = self.nodes[i]
            unit = w.unit_of(n, self.prefix)
            where = (n.span.file, n.span.line) if unit is None else ("call", unit)
            if where != seen_line:
                self.body.append(w.comment(n.span if unit is None else
                                           w.instances[unit].call_site()))
                seen_line = where
            if unit is None:
                self._node(n)
                i += 1
            else:
                inst = w.instances[unit]
                self._call(inst)
                i += len(inst.nodes)

    def _node(self, n) -> None:
        ins = [self.var(v) for v in n.inputs]
        if n.upcast:
            ins = [f"{x}.float()" if t.dtype in ("f16", "bf16") else x
                   for x, t in zip(ins, n.in_types)]
        outs = [self.var(v) for v in n.outputs]
        c = _Ctx(self, n, ins, outs)
        try:
            write(n.op, c)
            _parses(c.lines + [f"{', '.join(outs)} = {c.expr}"])
        except Unsupported as e:
            self.writer.problems.append(unsupported(n, "torch-src", str(e)))
            return
        if c.init_expr is not None:
            if n.param_dtype != "f32":
                c.init_expr += f".to({dtype_expr(n.param_dtype)})"
            self.inits[c.rel] = c.init_expr
        self.body += c.lines
        self.body.append(f"{', '.join(outs)} = {c.expr}")
        if n.upcast:
            for o, t in zip(outs, n.out_types):
                if t.dtype in ("f16", "bf16"):
                    self.body.append(f"{o} = {o}.to({dtype_expr(t.dtype)})")

    def _call(self, inst: "_Instance") -> None:
        target = inst.alias_of or inst
        ins = ", ".join(self.var(v) for v in inst.ext_inputs)
        outs = ", ".join(self.var(v) for v in inst.ext_outputs)
        if inst.alias_of is None:
            self.inits[self.rel(inst.path)] = f"{inst.class_name()}()"
        self.body.append(f"{outs} = {_attr(self.rel(target.path))}({ins})")

    # ---- text ----
    def init_lines(self) -> list[str]:
        tree: dict = {}
        for rel, expr in self.inits.items():
            cur = tree
            *parents, leaf = rel.split(".")
            for p in parents:
                cur = cur.setdefault(p, {})
            cur[leaf] = expr
        return [f"self.{k} = {_tree_expr(v, self.writer)}" for k, v in tree.items()]

    def render(self, name: str, method: str = "forward", doc: str = "",
               returns: tuple[str, str] | None = None) -> str:
        """The class text; `returns` = (annotation, expression) replaces the tuple return."""
        args = "".join(f", {a}: torch.Tensor" for _, a in self.inputs)
        rets = [self.var(v) for v in self.outputs]
        ann, ret = returns or ("torch.Tensor" if len(rets) == 1 else
                               f"Tuple[{', '.join(['torch.Tensor'] * len(rets))}]", ", ".join(rets))
        lines = [f"class {name}(nn.Module):"]
        if doc:
            lines.append(f'    """{doc}"""')
        lines += ["", "    def __init__(self):", "        super().__init__()"]
        lines += [f"        {ln}" for ln in self.init_lines()]
        lines += ["", f"    def {method}(self{args}) -> {ann}:"]
        lines += [f"        {ln}" for ln in self.body]
        lines.append(f"        return {ret}")
        return "\n".join(lines)


def _tree_expr(v, writer) -> str:
    if isinstance(v, str):
        return v
    if all(k.isdigit() for k in v):
        items = [_tree_expr(v[str(i)], writer) if str(i) in v else "Scope()"
                 for i in range(max(map(int, v)) + 1)]
        return "nn.ModuleList([" + ", ".join(items) + "])"
    writer.helpers.add("Scope")
    return "Scope(" + ", ".join(f"{k}={_tree_expr(x, writer)}" for k, x in v.items()) + ")"


class _Instance:
    """A block call: the nodes under `path`, contiguous in the model's order."""

    def __init__(self, writer, path: str, block: str, nodes, consumers: dict, outputs: set):
        self.writer, self.path, self.block, self.nodes = writer, path, block, nodes
        produced = {v for n in nodes for v in n.outputs}
        self.ext_inputs = list(dict.fromkeys(v for n in nodes for v in n.inputs
                                             if v not in produced))
        mine = {id(n) for n in nodes}
        self.ext_outputs = [v for n in nodes for v in n.outputs
                            if v in outputs or any(id(m) not in mine for m in consumers.get(v, ()))]
        self.alias_of: _Instance | None = None
        self.cls: _Class | None = None
        self._name: str | None = None

    def call_site(self):
        """The span of the call: the innermost call site of a node directly under the path."""
        for n in self.nodes:
            if n.name.rsplit(".", 1)[0] == self.path and n.call_sites:
                return n.call_sites[-1]
        return self.nodes[0].span

    def rel(self, name: str) -> str:
        return name[len(self.path) + 1:]

    def self_contained(self) -> bool:
        inside = self.path + "."
        return all(n.owner_of(k).startswith(inside) for n in self.nodes
                   for k in n.op.params(*n.in_types))

    def aliases(self, other: "_Instance") -> bool:
        """Every parameter here is `other`'s at the same place, nothing here has buffers, and
        both are called from one scope: running `other` again computes this call."""
        if other.block != self.block or len(other.nodes) != len(self.nodes) or \
                other.path.rpartition(".")[0] != self.path.rpartition(".")[0] or \
                len(other.ext_inputs) != len(self.ext_inputs) or \
                [self.rel(v) for v in self.ext_outputs] != \
                [other.rel(v) for v in other.ext_outputs]:
            return False
        for a, b in zip(self.nodes, other.nodes):
            if self.rel(a.name) != other.rel(b.name) or a.kind != b.kind or a.buffer_shapes():
                return False
            if any(a.owner_of(k) != b.name for k in a.op.params(*a.in_types)):
                return False
        return True

    def class_name(self) -> str:
        if self._name is None:
            self._name = self.writer.class_for(self)
        return self._name


class _Writer:
    def __init__(self, model):
        self.model = model
        self.problems: list = []
        self.helpers: set[str] = set()
        self.classes: dict[str, str] = {}       # class name -> text (in definition order)
        self.texts: dict[tuple, str] = {}        # (block, body text) -> class name
        self.instances: dict[str, _Instance] = {}
        self._scans = Counter()

    def comment(self, span) -> str:
        """`# file.dl:12  the spec line` (cut at 99 characters)."""
        src = self.model.sources
        text = (src.line(span.file, span.line) or "").strip() if src is not None else ""
        where = f"{span.file.rsplit('/', 1)[-1]}:{span.line}"
        return f"# {where}  {text}"[:99].rstrip()

    # ---- block calls ----
    def find_instances(self, nodes, prefix: str, outputs: set) -> None:
        consumers: dict[str, list] = {}
        for n in nodes:
            for v in n.inputs:
                consumers.setdefault(v, []).append(n)
        paths: dict[str, str] = {}
        for n in nodes:
            if n.blocks and "." in n.name[len(prefix):]:
                paths.setdefault(n.name.rsplit(".", 1)[0], n.blocks[-1])
        index = {id(n): i for i, n in enumerate(nodes)}
        for path, block in paths.items():
            members = [n for n in nodes if n.name.startswith(path + ".")]
            idx = [index[id(n)] for n in members]
            if idx != list(range(idx[0], idx[0] + len(idx))):
                continue
            inst = _Instance(self, path, block, members, consumers, outputs)
            for other in self.instances.values():
                if other.alias_of is None and other.nodes[0] is not members[0] and \
                        index.get(id(other.nodes[0]), 1 << 30) < idx[0] and inst.aliases(other):
                    inst.alias_of = other
                    break
            if inst.alias_of is not None or inst.self_contained():
                self.instances[path] = inst

    def unit_of(self, n, prefix: str) -> str | None:
        """The outermost block call below `prefix` that holds the node, if any."""
        segs = n.name[len(prefix):].split(".")[:-1]
        for k in range(1, len(segs) + 1):
            path = prefix + ".".join(segs[:k])
            if path in self.instances:
                return path
        return None

    def class_for(self, inst: _Instance) -> str:
        ins = [(v, "x" if len(inst.ext_inputs) == 1 else f"x{i + 1}")
               for i, v in enumerate(inst.ext_inputs)]
        cls = _Class(self, inst.nodes, inst.path + ".", ins, inst.ext_outputs, inst.block)
        cls.build()
        doc = f"Block {inst.block}."
        body = cls.render("_", doc=doc)
        key = (inst.block, body)
        if key not in self.texts:
            k = sum(1 for b, _ in self.texts if b == inst.block)
            name = _ident(inst.block if not k else f"{inst.block}_{k + 1}")
            while name in self.classes or name == _ident(self.model.name):
                name += "_"
            self.texts[key] = name
            self.classes[name] = cls.render(name, doc=doc)
        return self.texts[key]

    def scan_class(self, op, node) -> str:
        """A scan node: a class holding the body's layers (at the scan node's name), `step`
        for one time step and `forward` looping over axis 1."""
        body = op.body
        prefix = node.name + "."
        self.find_instances(body.nodes, prefix, {p.value for p in body.outputs})
        ins = [(p.value, _ident(p.name)) for p in body.inputs]
        cls = _Class(self, body.nodes, prefix, ins, [p.value for p in body.outputs], None)
        cls.build()
        self._scans[body.name] += 1
        k = self._scans[body.name]
        name = _ident(f"{body.name}Scan" + (f"_{k}" if k > 1 else ""))
        text = cls.render(name, method="step", doc=f"scan({body.name}) along axis 1.")
        self.classes[name] = text + "\n\n" + _scan_forward(op, body, ins)
        return name

    # ---- the file ----
    def text(self) -> str:
        m = self.model
        self.find_instances(m.nodes, "", {p.value for p in m.outputs})
        root = _Class(self, m.nodes, "", [(p.value, _ident(p.name)) for p in m.inputs],
                      [p.value for p in m.outputs], None)
        root.build()
        if self.problems:
            raise BackendError(self.problems, m.sources)
        name = _ident(m.name)
        outs = [_ident(p.name) for p in m.outputs]
        if len(outs) > 1:
            rets = ", ".join(f"{o}={root.var(p.value)}" for o, p in zip(outs, m.outputs))
            text = root.render(name, doc=f"Model {m.name}.",
                               returns=(f"{name}Outputs", f"{name}Outputs({rets})"))
        else:
            text = root.render(name, doc=f"Model {m.name}.")
        parts = [f'"""{m.name}, generated by dslc from {m.span.file.rsplit("/", 1)[-1]} '
                 '(--target torch-src). Imports torch only."""',
                 "import math\nfrom typing import List, NamedTuple, Optional, Tuple\n\n"
                 "import torch\nimport torch.nn.functional as F\nfrom torch import nn"]
        parts += [inspect.getsource(getattr(runtime, h)).rstrip()
                  for h in sorted(self.helpers, key=_helper_order)]
        if len(outs) > 1:
            parts.append(f"class {name}Outputs(NamedTuple):\n" +
                         "\n".join(f"    {o}: torch.Tensor" for o in outs))
        parts += list(self.classes.values())
        parts.append(text)
        return "\n\n\n".join(parts) + "\n"


def _helper_order(name: str) -> int:
    return runtime_names().index(name)


def _scan_forward(op, body, ins) -> str:
    x, states = ins[0][1], [a for _, a in ins[1:]]
    shapes = [[d.value if d.is_const() else None for d in p.type.shape] for p in body.inputs[1:]]
    given = [f"{s}_0" for s in states[:op.initial]]
    args = "".join(f", {g}: torch.Tensor" for g in given)
    n_out = 1 + (len(states) if op.state else 0)
    ann = "torch.Tensor" if n_out == 1 else f"Tuple[{', '.join(['torch.Tensor'] * n_out)}]"
    lines = [f"    def forward(self, {x}: torch.Tensor{args}) -> {ann}:"]
    for i, s in enumerate(states):
        if i < op.initial:
            lines.append(f"        {s} = {given[i]}")
        else:
            dims = ", ".join(f"{x}.shape[0]" if d is None else str(d) for d in shapes[i])
            lines.append(f"        {s} = {x}.new_zeros([{dims}])")
    lines.append("        _ys: List[torch.Tensor] = []")
    steps = f"range({x}.shape[1] - 1, -1, -1)" if op.reverse else f"range({x}.shape[1])"
    lines.append(f"        for _t in {steps}:")
    lines.append(f"            {', '.join(['_y', *states])} = self.step({x}[:, _t]"
                 + "".join(f", {s}" for s in states) + ")")
    lines.append("            _ys.append(_y)")
    if op.reverse:
        lines.append("        _ys.reverse()")
    rets = ["torch.stack(_ys, dim=1)", *(states if op.state else [])]
    lines.append(f"        return {', '.join(rets)}")
    return "\n".join(lines)
