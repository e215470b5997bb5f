"""A view of an ONNX graph for the matchers: constants (initializers and Constant nodes) as
numpy arrays, who produces and who consumes each value, ranks and sizes from shape inference
(adaptive.py adds those of its poolings' outputs, which inference leaves unknown), and
`Layer`, one dslc layer recognised in the graph."""
from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass, field
from ..backends.onnx.builder import LAYER, ROLE

import numpy as np

DTYPES = {1: "f32", 10: "f16", 11: "f64", 16: "bf16", 3: "i8", 6: "i32", 7: "i64", 2: "u8",
          9: "bool"}


# operators of shape arithmetic: on static values they compute a static value (ConstantOfShape:
# a constant sized by them, a recurrence's zero initial states, a causal mask's ones)
SHAPE_OPS = {"Gather", "Concat", "Cast", "Unsqueeze", "Squeeze", "Slice", "ReduceProd", "Mul",
             "Add", "Sub", "Div", "Reshape", "Identity", "ConstantOfShape", "Equal", "Where"}


class ImportFailure(Exception):
    """The graph cannot be imported: a one-line message naming the node or the file."""


@dataclass
class Layer:
    """One dslc layer: `kind(*args, **kwargs)` on the tensors `inputs`, producing `outputs`.
    `name` is the layer's name in the graph (the prefix of its initializers, else its node's
    name); `weights` maps dslc's local parameter names to arrays; `infix` is the operator of a
    binary op written `a + b` (`scalar` then holds a number operand, `reverse` its side);
    `ties` maps a local name to the earlier layer whose parameter it is (ties.py); `cell` is the
    text of the block it calls (scan's), written before the model."""
    kind: str
    inputs: list[str]
    outputs: list[str]
    name: str | None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    infix: str | None = None
    ties: dict = field(default_factory=dict)
    cell: str | None = None


class Graph:
    """The graph's nodes in order and the facts about values the matchers ask for."""

    def __init__(self, proto):
        from onnx import numpy_helper
        self.proto = proto
        g = proto.graph
        self.nodes = list(g.node)
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        for n in self.nodes:
            if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
            elif n.op_type == "Identity" and n.input[0] in self.consts and not is_param(n):
                # torch.onnx keeps one of several equal initializers: each reader its own copy
                self.consts[n.output[0]] = self.consts[n.input[0]].copy()
        self.inputs = [v for v in g.input if v.name not in self.consts]
        self.outputs = [v.name for v in g.output]
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.types: dict[str, int] = {}        # value: its ONNX element type, where known
        self.dims = inferred_dims(proto, self.types)
        self.ranks = {k: len(v) for k, v in self.dims.items()}
        # values computed from constants and shapes only (Shape of a tensor, its Gathers and
        # Concats, a weight's Gather and Unsqueeze): the layer that reads them claims them
        self.static, pure = set(self.consts), set(self.consts)
        for n in self.nodes:
            ins = [i for i in n.input if i]
            if is_param(n):
                continue
            if ins and all(i in pure for i in ins):
                pure.update(n.output)
                self.static.update(n.output)
            elif n.op_type == "Shape" or ins and n.op_type in SHAPE_OPS and \
                    all(i in self.static for i in ins):
                self.static.update(n.output)

    def const(self, name: str):
        return self.consts.get(name)

    def unfolded(self, value: str) -> str:
        """Why a value computed from constants alone is no constant: the text to append to
        "is not a constant" (a ConstantOfShape larger than the importer evaluates), or ""."""
        from .normalise import fold_limit
        n = self.producer.get(value)
        if n is None or value not in self.static or n.op_type == "Shape":
            return ""
        dims = self.dims.get(value) or [None]
        size = math.prod(dims) if all(isinstance(d, int) for d in dims) else None
        limit = fold_limit()
        if size is not None and size > limit:
            return (f" (its {n.op_type} '{n.name or value}' makes {size:,} elements, more "
                    f"than the importer evaluates with the memory available: {limit:,})")
        return ""

    def upstream(self, value: str) -> list:
        """The nodes computing a static value (none for a constant), in graph order."""
        seen, todo = {}, [value]
        while todo:
            v = todo.pop()
            n = self.producer.get(v)
            if n is None or id(n) in seen or v not in self.static or v in self.consts and \
                    n.op_type in ("Constant", "Identity"):
                continue
            seen[id(n)] = n
            if n.op_type != "Shape":
                todo += [i for i in n.input if i]
        return [n for n in self.nodes if id(n) in seen]

    def shape_of(self, value: str):
        """A static 1-D shape tensor as its dims (ints, symbols' names; None where unknown),
        or None when `value` is not one."""
        c = self.const(value)
        if c is not None:
            return [int(v) for v in c.reshape(-1)] if c.dtype.kind in "iu" else None
        n = self.producer.get(value)
        if n is None or value not in self.static:
            return None
        a = attrs(n)
        if n.op_type == "Shape":
            dims = self.dims.get(n.input[0])
            if dims is None:
                return None
            start, end = a.get("start", 0), a.get("end", len(dims))
            return list(dims[start:end])
        if n.op_type == "Slice":        # a run of a shape's sizes: constant bounds, axis 0
            src = self.shape_of(n.input[0])
            lim = [self.const(i) if i else None for i in (list(n.input) + [""] * 5)[1:5]]
            if src is None or any(c is None for c in lim[:2]) or any(
                    c is not None and c.size != 1 for c in lim) or \
                    lim[2] is not None and int(lim[2].reshape(-1)[0]) != 0:
                return None
            start, end = (int(c.reshape(-1)[0]) for c in lim[:2])
            step = int(lim[3].reshape(-1)[0]) if lim[3] is not None else 1
            return src[start:end:step]
        parts = [self.shape_of(i) for i in n.input if i]
        if any(p is None for p in parts):
            return None
        if n.op_type == "Concat":
            return [d for p in parts for d in p]
        if n.op_type in ("Cast", "Identity", "Squeeze", "Unsqueeze", "Reshape"):
            return parts[0]
        if n.op_type == "Gather" and a.get("axis", 0) == 0:
            return [parts[0][int(i)] for i in parts[1]]
        if n.op_type == "Mul" and [1] in parts and all(len(p) == 1 for p in parts):
            return parts[1] if parts[0] == [1] else parts[0]     # dslc's `1 * N` of a symbol
        if n.op_type in ARITH and len(parts) == 2 and all(len(p) == 1 for p in parts):
            return [_arith(n.op_type, *parts[0], *parts[1])]     # `N * 2` heads of a batch
        if n.op_type == "Equal" and len(parts) == 2:      # torch's `expand(n, -1)`: sizes == -1
            return _equal(*parts)
        if n.op_type == "Where" and len(parts) == 3:      # ... then 1 where they were -1
            width = max(len(p) for p in parts)
            if any(len(p) not in (1, width) for p in parts):
                return None
            at = lambda p, i: p[i if len(p) > 1 else 0]
            return [None if at(parts[0], i) is None else
                    at(parts[1], i) if at(parts[0], i) else at(parts[2], i) for i in range(width)]
        if n.op_type == "ReduceProd":
            out = 1
            for d in parts[0]:
                if not isinstance(d, int):
                    return None
                out *= d
            return [out]
        return None

    def uses(self, value: str) -> int:
        return len(self.consumers.get(value, ())) + self.outputs.count(value)

    def sole_consumer(self, value: str):
        """The one node reading `value`, when exactly one does and it is no graph output."""
        users = self.consumers.get(value, [])
        return users[0] if len(users) == 1 and value not in self.outputs else None


def inferred_graph(proto):
    """The graph with the types and shapes onnx's shape inference gives its values (in its
    value_info), inferred on its weights as shapes only (shapes_only); with data propagation
    unless a value is a long vector (_long_vector)."""
    from onnx import shape_inference
    proto = shapes_only(proto)
    inferred = shape_inference.infer_shapes(proto).graph
    if any(_long_vector(v) for v in [*inferred.value_info, *inferred.input, *inferred.output]):
        return inferred
    return shape_inference.infer_shapes(proto, data_prop=True).graph


def inferred_dims(proto, types: dict | None = None) -> dict:
    """{value: its dims, each an int, a symbol of the graph's inputs or None} from onnx's shape
    inference (data_prop: sizes read by Shape and rebuilt, a ConstantOfShape of a mask, stay
    known), each size it leaves unknown taken from onnxruntime's symbolic shape inference
    where that knows it: onnx's loses a batch symbol through a Pad or a Reshape to a computed
    shape (a symbolic-batch export's `flatten(2)`, its attention heads' split)."""
    g = proto.graph
    try:
        inferred = inferred_graph(proto)
        infos = list(inferred.value_info) + list(inferred.input) + list(inferred.output)
    except Exception:           # noqa: BLE001 - ranks are only needed to fold blocks
        infos = list(g.input) + list(g.output)
    dims = {v.name: [_dim(d) for d in v.type.tensor_type.shape.dim] for v in infos
            if v.type.tensor_type.HasField("shape")}
    if types is not None:       # `types` gets each value's element type
        types.update({v.name: v.type.tensor_type.elem_type for v in infos
                      if v.type.tensor_type.elem_type})
    symbols = {d.dim_param for v in g.input for d in v.type.tensor_type.shape.dim
               if d.dim_param}
    if not symbols or all(None not in d for d in dims.values()):
        return dims
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
        # its steps, not its infer_shapes, which saves the model (and its weights, as a
        # .data file) into the current directory when it cannot infer every size
        run = SymbolicShapeInference(2**31 - 1, False, False, 0)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            run._preprocess(proto)
            while run.run_:
                run._infer_impl()
            run._update_output_from_vi()
        sym = run.out_mp_.graph
    except Exception:           # noqa: BLE001 - an op it lacks: onnx's sizes alone
        return dims
    for v in [*sym.value_info, *sym.output]:
        known = [int(d.dim_value) if d.HasField("dim_value") else
                 d.dim_param if d.dim_param in symbols else None
                 for d in v.type.tensor_type.shape.dim]
        old = dims.get(v.name)
        if old is None:
            dims[v.name] = known
        elif len(old) == len(known):
            dims[v.name] = [o if o is not None else k for o, k in zip(old, known)]
    return dims


def shapes_only(proto, small: int = 1024):
    """`proto` for shape inference: each initializer of more than `small` elements a graph
    input of its type and dims instead (inference reads the values of shape tensors only; onnx's
    with data_prop held about 14 bytes per byte of a 160 MB initializer)."""
    import math

    from onnx import GraphProto, ModelProto, helper
    g = proto.graph
    big = [t for t in g.initializer if math.prod(t.dims) > small]
    if not big:
        return proto
    out = ModelProto()
    for field in ("ir_version", "producer_name", "domain", "model_version"):
        setattr(out, field, getattr(proto, field))
    out.opset_import.extend(proto.opset_import)
    out.functions.extend(proto.functions)
    graph = GraphProto(name=g.name)
    graph.node.extend(g.node)
    graph.initializer.extend(t for t in g.initializer if math.prod(t.dims) <= small)
    listed = {v.name for v in g.input}
    graph.input.extend(g.input)
    graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                       for t in big if t.name not in listed)
    graph.output.extend(g.output)
    graph.value_info.extend(g.value_info)
    out.graph.CopyFrom(graph)
    return out


def _long_vector(v, small: int = 1 << 20) -> bool:
    """Whether a value is a vector of more than `small` elements: onnx's data propagation
    holds an elementwise op's vector operand as a shape of that many dims, about 70 bytes
    each (1.4 GB for a 2e7-element bias), where it only needs the few sizes a shape
    computation reads; a real model's longest vector (a vocabulary's bias) is far shorter."""
    t = v.type.tensor_type
    dims = t.shape.dim if t.HasField("shape") else ()
    return len(dims) == 1 and dims[0].HasField("dim_value") and dims[0].dim_value > small


ARITH = {"Mul": "*", "Div": "//", "Add": "+", "Sub": "-"}


def _equal(a: list, b: list) -> list | None:
    """Sizes compared elementwise: a symbol (a size, never negative) differs from a negative
    number; None where the answer is unknown."""
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        return None
    width = max(len(a), len(b))
    at = lambda p, i: p[i if len(p) > 1 else 0]

    def eq(x, y):
        if x is None or y is None:
            return None
        if isinstance(x, int) and isinstance(y, int) or x == y:
            return x == y
        return False if (x if isinstance(x, int) else y) < 0 else None
    return [eq(at(a, i), at(b, i)) for i in range(width)]


def _arith(op: str, a, b):
    """A size computed from two: an int when both are, else the spec's expression (`N * 2`,
    written as a size); None when either is unknown."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return {"Mul": a * b, "Div": int(a / b) if b else None, "Add": a + b, "Sub": a - b}[op]
    return f"({a} {ARITH[op]} {b})"


def is_param(node) -> bool:
    """dslc's free tensor (param): an Identity of the initializer `<value>.weight` onto `<value>`,
    a layer whose output is a tensor, not a constant."""
    return node.op_type == "Identity" and node.input[0] == node.output[0] + ".weight"


def _dim(d):
    """A dim as an int, a symbol's name, or None when neither is known (shape inference's
    `unk__0` names a size it could not compute: no symbol of the model)."""
    if d.HasField("dim_value"):
        return int(d.dim_value)
    return d.dim_param if d.dim_param.isidentifier() and not UNKNOWN.fullmatch(d.dim_param) \
        else None


UNKNOWN = re.compile(r"unk__\d+")


def attrs(node) -> dict:
    """A node's attributes by name, strings (and lists of them) decoded from the bytes ONNX
    holds."""
    from onnx import helper
    text = lambda v: v.decode() if isinstance(v, bytes) else v
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = [text(x) for x in v] if isinstance(v, list) else text(v)
    return out


def dslc_part(node) -> tuple[str, str] | None:
    """(layer, role) that dslc's ONNX builder recorded on `node` (its metadata_props: the IR
    node it computes part of, and its role there: "" for the node giving the layer's output,
    "pad", "pieces", ...), or None for a node dslc did not write."""
    meta = {p.key: p.value for p in node.metadata_props}
    return (meta[LAYER], meta[ROLE]) if LAYER in meta and ROLE in meta else None


def part_of(node, role: str) -> str | None:
    """The layer whose `role` part `node` is, or None."""
    found = dslc_part(node) if node is not None else None
    return found[0] if found is not None and found[1] == role else None


def named_part(node, layer: str, part: str) -> bool:
    """Whether `node` is dslc's `part` node of `layer`."""
    return node is not None and dslc_part(node) == (layer, part)


def scalar_of(array) -> float | int | None:
    """The number a constant holds when it has one element (any rank), else None."""
    if array is None or array.size != 1:
        return None
    v = array.reshape(()).item()
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def layer_name(node, weight: str | None, local: str = "weight") -> str | None:
    """A layer's name: its weight initializer's prefix (`fc1.weight` -> fc1), else its node's
    name; torch.onnx's scopes `/layer1/layer1.0/relu/Relu` name the module `layer1.0.relu`,
    and `/Relu` (a function called in forward) names none."""
    if weight and weight.endswith("." + local):
        return weight[: -len(local) - 1]
    if not node.name.startswith("/"):
        # dslc names a node after its layer, `_2` appended where its output already has the name
        out = node.output[0] if node.output else ""
        suffix = node.name[len(out):]
        return out if node.name.startswith(out) and suffix[:1] == "_" and \
            suffix[1:].isdecimal() else node.name or None
    path = ""
    for part in node.name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path or None


def fail(node, why: str) -> ImportFailure:
    return ImportFailure(f"cannot import node '{node.name or node.output[0]}' ({node.op_type}): {why}")
