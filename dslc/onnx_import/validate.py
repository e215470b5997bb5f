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
    _ends(proto.graph)
    _shapes(proto)


def _ends(g) -> None:
    """Outputs to write, and inputs whose dims a dslc tensor can have (>= 1)."""
    if not g.output:
        raise ImportFailure("the graph has no outputs")
    inits = {t.name for t in g.initializer}
    for v in g.input:
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if v.name not in inits and min(dims, default=1) < 1:
            bad = min(dims)
            raise ImportFailure(f"input '{v.name}' has a dimension of {bad}: " + (
                "a dslc tensor has no empty dimensions" if bad == 0 else "dims are never negative"))


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
            want = schema.attributes.get(a.name) if schema else None
            if want is not None and int(want.type) != a.type:
                kind = AttributeProto.AttributeType.Name
                raise ImportFailure(f"{where}: attribute `{a.name}` is of type {kind(a.type)}; "
                                    f"the op takes {kind(int(want.type))}")
            if n.op_type in WINDOWED:
                _window(a, where)
    for a in n.attribute:
        values = [a.f] if a.type == AttributeProto.FLOAT else list(a.floats)
        if not all(math.isfinite(x) for x in values):
            raise ImportFailure(f"{where}: attribute `{a.name}` is not finite ({values})")
        for t in ([a.t] if a.type == AttributeProto.TENSOR else list(a.tensors)):
            _tensor(t, f"{where}: attribute `{a.name}`", folder)
        for sub in ([a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)):
            _order(sub, known, opset, folder)


def _shapes(proto) -> None:
    """What is wrong with a node given its input's rank and sizes (onnx's shape inference):
    an `axis`, `axes` or `perm` attribute outside the rank, a Reshape to more than one -1 or
    to another number of elements, an Expand to sizes its input does not broadcast to."""
    from onnx import numpy_helper
    from .graph import inferred_graph
    try:
        inferred = inferred_graph(proto)
    except Exception:           # noqa: BLE001 - recognition judges what inference cannot
        return
    dims = {v.name: [d.dim_value if d.HasField("dim_value") else None
                     for d in v.type.tensor_type.shape.dim]
            for v in [*inferred.input, *inferred.value_info, *inferred.output]
            if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")}
    small = {t.name: t for t in proto.graph.initializer if math.prod(t.dims) <= 64}
    small.update({n.output[0]: a.t for n in proto.graph.node if n.op_type == "Constant"
                  for a in n.attribute if a.name == "value" and math.prod(a.t.dims) <= 64})
    weights = {t.name: list(t.dims) for t in proto.graph.initializer}
    for n in proto.graph.node:
        shape = dims.get(n.input[0]) if n.input else None
        if n.domain not in ("", "ai.onnx") or shape is None:
            continue
        where = f"node '{n.name or n.output[0]}' ({n.op_type})"
        target = small.get(n.input[1]) if len(n.input) > 1 else None
        target = [int(v) for v in numpy_helper.to_array(target).reshape(-1)] \
            if target is not None and target.data_type in (6, 7) else None
        _axes(n, where, len(shape))
        if n.op_type in WINDOWED and len(shape) >= 3:
            _fits(n, where, shape, weights.get(n.input[1]) if len(n.input) > 1 else None)
        if n.op_type == "Reshape" and target is not None:
            _reshape(n, where, shape, target)
        elif n.op_type == "Expand" and target is not None:
            pairs = zip(reversed(shape), reversed(target))
            if any(a is not None and a != b and 1 not in (a, b) for a, b in pairs) or \
                    min(target, default=1) < 0:
                raise ImportFailure(f"{where}: its input {_shown(shape)} does not broadcast to "
                                    f"the shape {target}")


def invalid(proto) -> str | None:
    """What onnx's shape inference in strict mode finds wrong with the graph (its first
    line), or None: asked where the spec written from a graph does not check, to tell a graph
    the checks here miss from an importer bug."""
    from onnx import shape_inference
    from .graph import shapes_only
    try:
        shape_inference.infer_shapes(shapes_only(proto), check_type=True, strict_mode=True)
    except Exception as e:      # noqa: BLE001 - onnx's errors have no common base
        return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return None


def _shown(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _axes(n, where: str, rank: int) -> None:
    """`axis` and `axes` within the input's rank (Flatten's and OneHot's axis, Unsqueeze's
    axes: the output's), `perm` a permutation of it."""
    from onnx import helper
    for a in n.attribute:
        value = helper.get_attribute_value(a)
        if a.name == "perm" and n.op_type == "Transpose" and sorted(value) != list(range(rank)):
            raise ImportFailure(f"{where}: attribute `perm` is {value}, no permutation of the "
                                f"{rank} axes of its input")
        if a.name not in ("axis", "axes") or not isinstance(value, (int, list)):
            continue
        top = rank + (1 if n.op_type in ("Flatten", "OneHot") else
                      len(value) if n.op_type == "Unsqueeze" else 0)
        bad = [v for v in (value if isinstance(value, list) else [value]) if not -top <= v < top]
        if bad and top:
            raise ImportFailure(f"{where}: attribute `{a.name}` is {value}, outside the "
                                f"{top} axes it counts (-{top} to {top - 1}; its input has "
                                f"rank {rank})")


def _reshape(n, where: str, shape: list, target: list) -> None:
    """At most one -1, no size below it, and as many elements as the input where known."""
    if target.count(-1) > 1 or min(target, default=0) < -1:
        raise ImportFailure(f"{where}: the target shape {target} has "
                            + ("more than one -1" if target.count(-1) > 1 else "a negative size"))
    zero = any(a.name == "allowzero" and a.i for a in n.attribute)
    if not zero and any(t == 0 and i >= len(shape) for i, t in enumerate(target)):
        raise ImportFailure(f"{where}: the target shape {target} copies a dim its rank-"
                            f"{len(shape)} input lacks")
    sizes = [shape[i] if t == 0 and not zero else t for i, t in enumerate(target)]
    if None in shape or None in sizes:
        return
    have, rest = math.prod(shape), math.prod(d for d in sizes if d != -1)
    if -1 not in sizes and have != rest or -1 in sizes and (rest == 0 or have % rest):
        raise ImportFailure(f"{where}: its input {_shown(shape)} has {have:,} elements, which "
                            f"the target shape {target} cannot hold")


# ops with strides, dilations, kernel_shape, group (each >= 1), pads and output_padding (>= 0)
WINDOWED = {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "DeformConv", "MaxPool",
            "AveragePool", "LpPool", "MaxUnpool"}


def _fits(n, where: str, shape: list, weight) -> None:
    """A Conv's weight against its input's channels, group and kernel_shape; a window (a
    pool's kernel_shape, a Conv's weight), dilated, within its padded input where the sizes
    are known."""
    from onnx import helper
    a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
    kernel = a.get("kernel_shape")
    if n.op_type == "Conv" and weight is not None and len(weight) == len(shape):
        group, channels = a.get("group", 1), shape[1]
        if channels is not None and weight[1] * group != channels:
            raise ImportFailure(f"{where}: its weight {weight} with group={group} takes "
                                f"{weight[1] * group} input channels; its input {_shown(shape)} "
                                f"has {channels}")
        if weight[0] % group:
            raise ImportFailure(f"{where}: group={group} does not divide the {weight[0]} "
                                f"output channels of its weight {weight}")
        if kernel is not None and list(kernel) != weight[2:]:
            raise ImportFailure(f"{where}: attribute `kernel_shape` is {kernel}; its weight "
                                f"{weight} has the kernel {weight[2:]}")
        kernel = weight[2:]
    if n.op_type not in ("Conv", "MaxPool", "AveragePool", "LpPool") or kernel is None or \
            a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        return
    rank = len(kernel)
    pads = list(a.get("pads", [0] * 2 * rank))
    dilations = list(a.get("dilations", [1] * rank))
    for i, (size, k) in enumerate(zip(shape[2:], kernel)):
        if len(pads) == 2 * rank and len(dilations) == rank and size is not None and \
                (k - 1) * dilations[i] + 1 > size + pads[i] + pads[i + rank]:
            raise ImportFailure(f"{where}: its window {list(kernel)} (dilations {dilations}, "
                                f"pads {pads}) does not fit its input {_shown(shape)}")


def _window(a, where: str) -> None:
    from onnx import helper
    low = 1 if a.name in ("strides", "dilations", "kernel_shape", "group") else \
        0 if a.name in ("pads", "output_padding") else None
    value = helper.get_attribute_value(a)
    many = isinstance(value, list)
    if low is not None and min(value if many else [value], default=low) < low:
        raise ImportFailure(f"{where}: attribute `{a.name}` is {value}: "
                            f"{'each' if many else 'it'} must be >= {low}")


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
