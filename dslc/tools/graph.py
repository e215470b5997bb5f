"""`dslc graph`: a model's dataflow as Graphviz DOT or Mermaid text (IR only).

Every layer is a box (`conv2d_1: conv2d(64, 3, padding=1)`, with its parameter count when it
has any), inputs and outputs are ovals, each edge carries the shape of the tensor it moves.
A block call is a cluster (a DOT `subgraph cluster_...`, a Mermaid `subgraph`) titled with the
instance and its block (`Bottleneck_3: Bottleneck`), nested as the calls nest. `depth` folds
every block nested deeper than it into one box, as `dslc summary --depth` folds rows: depth 0
draws each top-level block call as a single box."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .summary import scope_blocks


@dataclass
class _Box:
    id: str
    label: str
    scope: tuple[str, ...]            # the block instances it sits in, outermost first
    shape: str = "box"
    params: int = 0


@dataclass
class _Cluster:
    title: str
    boxes: list = field(default_factory=list)
    children: dict = field(default_factory=dict)


def _ident(name: str) -> str:
    return "n_" + re.sub(r"\W", "_", name)


def _layout(model, depth: int | None):
    """(boxes, edges): edges are (from id, to id, shape label), each once."""
    boxes: dict[str, _Box] = {}
    producer: dict[str, tuple[str, object]] = {}     # value -> (box id, its type)
    for p in model.inputs:
        boxes[_ident("in." + p.name)] = _Box(_ident("in." + p.name), f"{p.name}: {p.type}", (), "oval")
        producer[p.value] = (_ident("in." + p.name), p.type)
    edges: dict[tuple[str, str], str] = {}
    for n in model.nodes:
        parts = n.name.split(".")
        scope = tuple(parts[:-1])
        if depth is not None and len(scope) > depth:       # folded into its block's box
            key = ".".join(parts[:depth + 1])
            bid = _ident(key)
            if bid not in boxes:
                boxes[bid] = _Box(bid, f"{parts[depth]}: {scope_blocks(n)[depth]}", scope[:depth])
            boxes[bid].params += n.own_params()
        else:
            bid = _ident(n.name)
            boxes[bid] = _Box(bid, f"{parts[-1]}: {n.describe()}", scope)
            boxes[bid].params = n.own_params()
        for v in n.inputs:
            if v in producer and producer[v][0] != bid:
                edges.setdefault((producer[v][0], bid), _shape(producer[v][1]))
        for v, t in zip(n.outputs, n.out_types):
            producer[v] = (bid, t)
    for p in model.outputs:
        oid = _ident("out." + p.name)
        boxes[oid] = _Box(oid, f"{p.name}: {p.type}", (), "oval")
        if p.value in producer:
            edges.setdefault((producer[p.value][0], oid), _shape(producer[p.value][1]))
    for b in boxes.values():
        if b.params:
            b.label += f"\\n{b.params:,} params"
    titles = {}
    for n in model.nodes:
        parts = n.name.split(".")
        for i, block in enumerate(scope_blocks(n)):
            name = ".".join(parts[:i + 1]) if parts[i].isdigit() else parts[i]   # layer1.0
            titles.setdefault(tuple(parts[:i + 1]), f"{name}: {block}")
    return list(boxes.values()), edges, titles


def _cluster_id(key: tuple[str, ...]) -> str:
    return "cluster_" + re.sub(r"\W", "_", ".".join(key))


def _shape(t) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _tree(boxes, titles) -> _Cluster:
    root = _Cluster("")
    for b in boxes:
        c = root
        for i in range(len(b.scope)):
            key = b.scope[:i + 1]
            c = c.children.setdefault(key, _Cluster(titles.get(key, ".".join(key))))
        c.boxes.append(b)
    return root


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def dot(model, depth: int | None = None) -> str:
    boxes, edges, titles = _layout(model, depth)
    lines = [f"digraph {_quote(model.name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']

    def emit(c: _Cluster, indent: str) -> None:
        for b in c.boxes:
            lines.append(f"{indent}{b.id} [label={_quote(b.label)}, shape={b.shape}];")
        for key, child in c.children.items():
            lines.append(f"{indent}subgraph {_cluster_id(key)} {{")
            lines.append(f"{indent}  label={_quote(child.title)}; style=rounded;")
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")
    emit(_tree(boxes, titles), "  ")
    for (a, b), label in edges.items():
        lines.append(f"  {a} -> {b} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mm(text: str) -> str:
    """Mermaid label text: quotes as #quot;, line breaks as <br/>."""
    return '"' + text.replace('"', "#quot;").replace("\\n", "<br/>") + '"'


def mermaid(model, depth: int | None = None) -> str:
    boxes, edges, titles = _layout(model, depth)
    lines = ["flowchart TB"]

    def emit(c: _Cluster, indent: str) -> None:
        for b in c.boxes:
            lines.append(f"{indent}{b.id}({_mm(b.label)})" if b.shape == "oval"
                         else f"{indent}{b.id}[{_mm(b.label)}]")
        for key, child in c.children.items():
            lines.append(f"{indent}subgraph {_cluster_id(key)} [{_mm(child.title)}]")
            emit(child, indent + "  ")
            lines.append(f"{indent}end")
    emit(_tree(boxes, titles), "  ")
    for (a, b), label in edges.items():
        lines.append(f"  {a} -->|{_mm(label)}| {b}")
    return "\n".join(lines) + "\n"
