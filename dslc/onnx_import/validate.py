"""The checks an ONNX graph passes before recognition, so that a hostile or broken file is one
line (ImportFailure) and never a KeyError, a traceback from onnx, an allocation the file does
not back, or a read outside the model's folder:
- every node reads values that exist before it (graph inputs, initializers, earlier nodes'
  outputs; a subgraph also its outer scope): a cycle, a node reading its own output or an
  unsorted graph is refused, and so is a value produced twice or an output nobody produces;
- every attribute the op's schema requires is there (Concat's `axis`, Cast's `to`) and every
  float attribute is finite (LeakyRelu's alpha);
- every tensor (an initializer, a Constant's value) holds what its dims declare;
- external data is read here, resolved against the model's folder and confined to it (no
  absolute path, no `..` or symlink out of it, a regular file, the declared bytes within it),
  and embedded in the tensor, so nothing later opens a file."""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..limits import MAX_LAYERS
from .graph import ImportFailure


# nodes (subgraphs' included) and initializers in a graph dslc imports: three for each layer a
# spec holds (limits.MAX_LAYERS; torch's exports of benchmarks/import_corpus.py have at most
# 2.2 nodes a layer). Importing costs about 0.4 ms a node (onnxscript's folding, shape
# inference, recognition), so the largest graph taken imports or is refused within about
# 15 s, and a larger one is refused before any of that (a 60,000-node chain took 41 s)
MAX_NODES = 3 * MAX_LAYERS


def validate(proto, folder: str | Path | None) -> None:
    """ImportFailure for the first problem; external data embedded (read from `folder`, the
    model file's folder; None: refused)."""
    _size(proto.graph)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 21)
    _opset(opset)
    _order(proto.graph, set(), opset, folder)


def _opset(opset: int) -> None:
    """The graph's ai.onnx opset is one the onnx package here defines (its schemas are what
    the attributes are checked against and what onnx's tools convert and evaluate)."""
    import onnx
    newest = onnx.defs.onnx_opset_version()
    if not 1 <= opset <= newest:
        raise ImportFailure(f"the graph's opset (ai.onnx) is {opset}: the onnx package here "
                            f"(onnx {onnx.__version__}) knows opsets 1 to {newest}")


def _size(graph) -> None:
    """The graph's nodes, its subgraphs' included, and its initializers against MAX_NODES."""
    nodes, todo = 0, [graph]
    while todo:
        g = todo.pop()
        nodes += len(g.node)
        todo += [sub for n in g.node for a in n.attribute for sub in [a.g, *a.graphs]
                 if sub.node]
    for count, what in ((nodes, "nodes"), (len(graph.initializer), "initializers")):
        if count > MAX_NODES:
            raise ImportFailure(f"the graph has {count:,} {what}, more than dslc imports "
                                f"({MAX_NODES:,}: three for each of the {MAX_LAYERS:,} layers "
                                "a spec holds)")


def _order(g, outer: set[str], opset: int, folder) -> None:
    """Initializers, topological order, values produced once, required and finite attributes,
    recursively into subgraphs (which also see the values of their outer scope)."""
    for t in g.initializer:
        _tensor(t, f"initializer '{t.name}'", folder)
    known = outer | {v.name for v in g.input} | {t.name for t in g.initializer} | {""}
    for n in g.node:
        where = f"node '{n.name or (n.output[0] if n.output else '')}' ({n.op_type})"
        for v in n.input:
            if v not in known:
                why = "its own output" if v in n.output else "a value no node before it produces"
                raise ImportFailure(f"{where} reads '{v}', {why} (a cycle, or a graph not in "
                                    "topological order)")
        _attributes(n, where, opset, known, folder)
        for v in n.output:
            if v and v in known:
                raise ImportFailure(f"{where} produces '{v}', which is already a value of the graph")
            known.add(v)
    missing = [v.name for v in g.output if v.name not in known]
    if missing:
        raise ImportFailure(f"the graph's output '{missing[0]}' is produced by no node")


def _attributes(n, where: str, opset: int, known: set[str], folder) -> None:
    from onnx import AttributeProto, defs
    if n.domain in ("", "ai.onnx"):
        try:
            schema = defs.get_schema(n.op_type, opset, "")
        except defs.SchemaError:          # an op onnx does not know: recognition names it
            schema = None
        given = {a.name for a in n.attribute}
        for name, attr in (schema.attributes.items() if schema else ()):
            if attr.required and name not in given:
                raise ImportFailure(f"{where} lacks its required attribute `{name}`")
    for a in n.attribute:
        values = [a.f] if a.type == AttributeProto.FLOAT else list(a.floats)
        if not all(math.isfinite(x) for x in values):
            raise ImportFailure(f"{where}: attribute `{a.name}` is not finite ({values})")
        for t in ([a.t] if a.type == AttributeProto.TENSOR else list(a.tensors)):
            _tensor(t, f"{where}: attribute `{a.name}`", folder)
        for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
            _order(sub, known, opset, folder)


def _tensor(t, what: str, folder) -> None:
    """A tensor's data (an initializer's, a Constant's) against its dims; external data read
    into it."""
    from onnx import TensorProto, helper
    from ..checks.memory import available_memory, fmt_bytes
    if any(d < 0 for d in t.dims):
        raise ImportFailure(f"{what} has a negative size {list(t.dims)}")
    if t.data_type in (TensorProto.STRING, TensorProto.UNDEFINED):
        raise ImportFailure(f"{what} is not numeric (data type {t.data_type})")
    count = math.prod(t.dims)
    itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    size = count * itemsize
    if t.data_location == TensorProto.EXTERNAL:
        if size > available_memory()[0]:
            raise ImportFailure(f"{what} declares {list(t.dims)} "
                                f"({fmt_bytes(size)}), over the memory available")
        _embed(t, what, folder, size)
        return
    held, want = (len(t.raw_data), size) if t.HasField("raw_data") else \
        (len(getattr(t, helper.tensor_dtype_to_field(t.data_type))), count)
    if held != want:
        unit = "bytes" if t.HasField("raw_data") else "values"
        raise ImportFailure(f"{what} declares {list(t.dims)}, {want:,} {unit}; "
                            f"its data holds {held:,}")


def _embed(t, what: str, folder, size: int) -> None:
    """Read an external tensor's bytes from its file in `folder` into t.raw_data."""
    from onnx import TensorProto
    from ..files import not_regular
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    if folder is None:
        raise ImportFailure(f"{what} keeps its data in '{location}', and the "
                            "model has no folder to find it in")
    base = Path(folder).resolve()
    path = (base / location).resolve() if location and "\0" not in location else None
    if path is None or os.path.isabs(location) or base not in path.parents:
        raise ImportFailure(f"{what}: its external data '{location}' is not a "
                            f"file in the model's folder ({base})")
    try:
        why = not_regular(os.stat(path).st_mode)
        if why:
            raise ImportFailure(f"{what}: its external data '{location}' is {why}")
        offset, length = int(info.get("offset", 0)), int(info.get("length", size))
        if length != size or offset < 0 or offset + length > os.stat(path).st_size:
            raise ImportFailure(f"{what}: '{location}' holds no {size:,} bytes "
                                f"at offset {offset:,} (length {length:,})")
        with open(path, "rb") as f:
            f.seek(offset)
            t.raw_data = f.read(length)
    except OSError as e:
        raise ImportFailure(f"{what}: cannot read its external data "
                            f"'{location}': {e.strerror}")
    except ValueError:
        raise ImportFailure(f"{what}: its external data has a bad offset or "
                            "length")
    del t.external_data[:]
    t.data_location = TensorProto.DEFAULT
