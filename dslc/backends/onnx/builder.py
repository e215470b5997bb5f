"""IR -> onnx.ModelProto. Initializers carry the torch state_dict names; symbolic dims become
dim_param on inputs and outputs. Each op emits its own nodes through `Builder`."""
from __future__ import annotations

import sys

import numpy as np

from ...ir.core import FLOAT_DTYPES
from ...ops.base import Unsupported
from .. import BackendError, unsupported
from .table import lower

OPSET = 21          # LayerNormalization (17), Gelu (20), Pad wrap mode (19)
IR_VERSION = 10     # the IR version of opset 21; onnxruntime >= 1.17 loads it

_DTYPES = {"f16": "FLOAT16", "f32": "FLOAT", "f64": "DOUBLE", "bf16": "BFLOAT16", "i8": "INT8",
           "i32": "INT32", "i64": "INT64", "u8": "UINT8", "bool": "BOOL"}


def onnx_dtype(dtype: str) -> int:
    from onnx import TensorProto
    return getattr(TensorProto, _DTYPES[dtype])


def np_dtype(dtype: str):
    """The numpy dtype of an IR dtype (bf16 through ml_dtypes, which onnx depends on)."""
    if dtype == "bf16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i8": np.int8,
            "i32": np.int32, "i64": np.int64, "u8": np.uint8, "bool": np.bool_}[dtype]


# Each node's metadata_props: the IR node (layer) it computes part of, and its role in that
# layer's subgraph ("" for the node producing the layer's output, "pad" for `<layer>.pad`,
# "pieces", ...), so that readers (dslc import) group and recognise nodes by these fields, not by
# parsing node names.
LAYER, ROLE = "dslc.layer", "dslc.role"


def _role(name: str | None, layer: str) -> str:
    if name == layer:
        return ""
    return name[len(layer) + 1:] if name and name.startswith(layer + ".") else name or ""


def _floating(dtype) -> bool:
    return np.issubdtype(dtype, np.floating) or np.dtype(dtype).name == "bfloat16"


class Builder:
    """A small tape: nodes, initializers and fresh names, with the model's weights at hand."""

    def __init__(self, weights: dict, external=None, weightless: bool = False,
                 fuse: bool = False, stream=None):
        self.nodes: list = []
        self.inits: dict = {}
        self.weights = weights
        # (binary file, its name beside the graph): parameters of EXTERNAL_MIN bytes or more
        # are written there as they are lowered, the graph holding their offsets
        self.external = external
        # stream: the open file the model is written to: parameters of EXTERNAL_MIN bytes or
        # more go there as they are lowered (`streamed` names them), the rest of the model last
        self.stream, self.streamed = stream, set()
        # weightless: each parameter and buffer is a graph input of its type and shape (a
        # Drawn mapping tells the shapes; nothing is drawn); `free` names them
        self.weightless, self.free = weightless, set()
        # fuse: ops emit onnxruntime's fused contrib forms where they have one (Attention);
        # `fused`: per op kind, the names of the nodes fused and of all lowered, for the report
        self.fuse, self.fused = fuse, {}
        self._names: set[str] = set()
        self._casts: dict = {}      # (initializer, dtype) -> its Cast (this graph's own)
        self._known: dict = {}      # value name -> ValueInfoProto (IR values, Casts)
        self._store: dict = {}      # node being lowered -> the dtype its new initializers take
        self.layer: str | None = None    # the IR node being lowered (each ONNX node's metadata)

    def sub(self) -> "Builder":
        """A builder for a subgraph (a Scan body): its own nodes; initializers, constants and
        names shared with the main graph, whose values a subgraph may read."""
        s = Builder(self.weights, self.external, self.weightless, self.fuse, self.stream)
        s.inits, s._names, s._store, s.free = self.inits, self._names, self._store, self.free
        s.fused, s.streamed = self.fused, self.streamed
        return s

    # ---- precision ----
    def lower(self, node, ins: list[str], outs: list[str]) -> None:
        """Emit one IR node. A precise op on half-precision tensors (Node.upcast) is computed
        in f32 between Casts, its parameters f32. An op whose ONNX lowering uses an operator
        the ONNX standard defines without this dtype (Conv, ConvTranspose, AveragePool, Elu,
        ... take no bf16 at opset 21) is computed in f32 the same way, its initializers kept
        in the node's param_dtype and cast up in the graph."""
        outer, self.layer = self.layer, node.name
        try:
            self._lower(node, ins, outs)
        finally:
            self.layer = outer

    def _lower(self, node, ins: list[str], outs: list[str]) -> None:
        if node.upcast:
            self._in_f32(node, ins, outs)
            return
        narrow = {t.dtype for t in (*node.in_types, *node.out_types)} & {"f16", "bf16", "f64"}
        if not narrow:
            lower(node.op, self, node, ins, outs)
            return
        mark = (len(self.nodes), set(self.inits), dict(self._casts), dict(self._known))
        lower(node.op, self, node, ins, outs)
        if not self._lacks_dtype(node, ins, outs, mark[0], narrow):
            return
        del self.nodes[mark[0]:]
        for k in set(self.inits) - mark[1]:
            del self.inits[k]
            self._names.discard(k)
        self._casts, self._known = mark[2], mark[3]
        self._in_f32(node, ins, outs, store=node.param_dtype)

    def _in_f32(self, node, ins, outs, store: str | None = None) -> None:
        """Lower `node` on f32 copies of its floating inputs; Cast its outputs back. `store`:
        the dtype its initializers keep (else f32)."""
        up = lambda t: t.dtype in FLOAT_DTYPES and t.dtype != "f32"
        f32 = lambda t: t.model_copy(update={"dtype": "f32"}) if up(t) else t
        up_ins = [self.node("Cast", [x], name=f"{node.name}.to_f32", to=onnx_dtype("f32"))[0]
                  if up(t) else x for x, t in zip(ins, node.in_types)]
        up_outs = [self.fresh(f"{y}.f32") if up(t) else y for y, t in zip(outs, node.out_types)]
        inner = node.model_copy(update={
            "in_types": tuple(f32(t) for t in node.in_types),
            "out_types": tuple(f32(t) for t in node.out_types),
            "inputs": tuple(up_ins), "outputs": tuple(up_outs)})
        if store is not None:
            self._store[node.name] = store
        try:
            lower(node.op, self, inner, up_ins, up_outs)
        finally:
            self._store.pop(node.name, None)
        for y, y32, t in zip(outs, up_outs, node.out_types):
            if y32 != y:
                self.node("Cast", [y32], [y], name=f"{node.name}.from_f32", to=onnx_dtype(t.dtype))

    def _lacks_dtype(self, node, ins, outs, first: int, narrow) -> bool:
        """Whether the nodes emitted since `first` use an ONNX operator whose type constraints
        exclude one of `narrow` (strict type inference on just those nodes)."""
        import re

        import onnx
        from onnx import helper
        emitted = self.nodes[first:]
        made = {o for n in emitted for o in n.output}
        known = {**self._known, **{x: value_info(x, t) for x, t in zip(ins, node.in_types)}}
        inputs = []
        for name in dict.fromkeys(i for n in emitted for i in n.input if i and i not in made):
            if name in self.inits:
                t = self.inits[name]
                inputs.append(helper.make_tensor_value_info(name, t.data_type, list(t.dims)))
            elif name in known:
                inputs.append(known[name])
            else:
                return False          # a value from elsewhere: leave it to the model's check
        graph = helper.make_graph(emitted, "node", inputs,
                                  [value_info(y, t) for y, t in zip(outs, node.out_types)])
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        proto.ir_version = IR_VERSION
        try:
            onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        except Exception as e:
            names = {"f16": "float16", "bf16": "bfloat16", "f64": "double"}
            wanted = "|".join(names[d] for d in narrow)
            return re.search(rf"unsupported type: tensor\(({wanted})\)", str(e)) is not None
        return False

    def fresh(self, hint: str) -> str:
        name, i = hint, 1
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def node(self, op_type: str, inputs: list[str], outputs=None, name: str | None = None,
             **attrs) -> list[str]:
        from onnx import helper
        if outputs is None or isinstance(outputs, int):
            outputs = [self.fresh(f"{name or op_type}_out") for _ in range(outputs or 1)]
        made = helper.make_node(op_type, inputs, outputs, name=self.fresh(name or op_type), **attrs)
        if self.layer is not None:
            helper.set_metadata_props(made, {LAYER: self.layer, ROLE: _role(name, self.layer)})
        self.nodes.append(made)
        return outputs

    def param(self, node, local: str) -> str:
        """The initializer for a node's parameter or buffer, named as in the torch state_dict
        (a tied node reads its owner's), in the node's param_dtype (integer buffers keep their
        dtype). A tied node whose param_dtype differs from its owner's reads a Cast of it."""
        from onnx import helper
        full_name = node.pname(local)
        if full_name not in self.inits:
            if full_name not in self.weights:
                raise KeyError(f"no weight named `{full_name}`")
            store = self._store.get(node.name, node.param_dtype)
            if self.weightless:
                self._declare(full_name, self.weights.shape(full_name), store)
            else:
                self._put(self.weights[full_name], full_name, store)
        init = self.inits[full_name]
        want = onnx_dtype(node.param_dtype)
        if init.data_type == want or not _floating(helper.tensor_dtype_to_np_dtype(init.data_type)):
            return full_name
        key = (full_name, node.param_dtype)
        if key not in self._casts:
            out = self.node("Cast", [full_name], name=f"{node.name}.{local}.cast", to=want)[0]
            self._casts[key] = out
            self._known[out] = helper.make_tensor_value_info(out, want, list(init.dims))
        return self._casts[key]

    def _put(self, value, name: str, store: str) -> None:
        """A parameter's values, in its stored dtype (integer buffers keep theirs): to the
        external data file or the model's stream when large, else into the graph."""
        w = _as_array(value)
        w = w.astype(np_dtype(store), copy=False) if _floating(w.dtype) else w
        if self.external is not None and w.nbytes >= EXTERNAL_MIN:
            self._write_external(w, name)
        elif self.stream is not None and w.nbytes >= EXTERNAL_MIN:
            self._write_inline(w, name)
        else:
            self.const(w, name)

    def _declare(self, name: str, shape, dtype: str) -> None:
        """A parameter without its values (weightless): its type and shape only; the graph
        takes it as an input."""
        from onnx import TensorProto
        t = TensorProto()
        t.name, t.data_type = name, onnx_dtype(dtype)
        t.dims.extend(shape)
        self._names.add(name)
        self.inits[name] = t
        self.free.add(name)

    def _write_external(self, array, name: str) -> None:
        """An initializer whose bytes go to the external file at its current end."""
        from onnx import TensorProto
        f, location = self.external
        t, data = _header(array, name)
        offset = f.tell()
        # the bytes go straight to the file: put in the proto first, they would stay in
        # protobuf's arena after ClearField, the whole model
        f.write(data)
        length = f.tell() - offset
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
            entry = t.external_data.add()
            entry.key, entry.value = k, v
        self._names.add(name)
        self.inits[name] = t

    def _write_inline(self, array, name: str) -> None:
        """An initializer written into the model file now, as a serialized ModelProto holding
        only `graph { initializer: <it> }`: protobuf parses concatenated messages as one, the
        repeated initializers appended, so the model written after the last weight completes
        the file. The bytes go from the array to the file, never through a proto."""
        t, data = _header(array, name)
        head = t.SerializeToString() + _key(9) + _varint(data.nbytes)        # raw_data = 9
        tensor_len = len(head) + data.nbytes
        initializer = _key(5) + _varint(tensor_len)                           # initializer = 5
        graph_len = len(initializer) + tensor_len
        self.stream.write(_key(7) + _varint(graph_len) + initializer + head)  # graph = 7
        self.stream.write(data)
        self._names.add(name)
        self.inits[name] = t
        self.streamed.add(name)

    def const(self, array, hint: str = "const") -> str:
        from onnx import numpy_helper
        name = hint if hint not in self._names and hint not in self.inits else self.fresh(hint)
        self._names.add(name)
        self.inits[name] = numpy_helper.from_array(np.asarray(array), name)
        return name

    def scalar(self, value, dtype: str, hint: str = "const") -> str:
        """A rank-0 constant of an IR dtype (`x * 0.5` on an f16 tensor needs an f16 0.5)."""
        return self.const(np.asarray(value, dtype=np_dtype(dtype)), hint)

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)


def _header(array, name: str):
    """(a TensorProto with the array's name, dtype and dims but no data, the array's bytes as
    ONNX stores them: little-endian)."""
    from onnx import TensorProto, helper
    array = np.ascontiguousarray(array)
    t = TensorProto()
    t.name, t.data_type = name, helper.np_dtype_to_tensor_dtype(array.dtype)
    t.dims.extend(array.shape)
    if sys.byteorder != "little":
        array = array.byteswap()
    return t, array.view(np.uint8).reshape(-1).data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int) -> bytes:
    """The key of a length-delimited protobuf field (wire type 2)."""
    return _varint(field << 3 | 2)


def value_info(name: str, t):
    from onnx import helper
    dims = [d.value if d.is_const() else str(d) for d in t.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(t.dtype), dims)


def _reading(model, renamed: dict):
    """`model` with its nodes and outputs reading the guarded inputs (`renamed`)."""
    if not renamed:
        return model
    nodes = tuple(n.model_copy(update={"inputs": tuple(renamed.get(i, i) for i in n.inputs)})
                  for n in model.nodes)
    outputs = tuple(p.model_copy(update={"value": renamed.get(p.value, p.value)})
                    for p in model.outputs)
    return model.model_copy(update={"nodes": nodes, "outputs": outputs})


def _as_array(v) -> np.ndarray:
    """A numpy array of a torch tensor or an array: float64 stays float64 (an f64 module's
    trained weights keep their precision), bfloat16 goes through float32 (numpy has none)."""
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        import torch
        v = (v.float() if v.dtype == torch.bfloat16 else v).numpy()
    return np.asarray(v)


CONTRIB = "com.microsoft"      # onnxruntime's contrib operators (--fuse)
EXTERNAL_MIN = 1024     # bytes: smaller parameters stay in the graph, as onnx's own converter does


def build_onnx(model, weights, check: bool = True, guards: bool = False, external=None,
               weightless: bool = False, fuse: bool = False, stream=None):
    """The model's graph with `weights` as initializers, after checking them against the IR
    (passes.weights.check_weights: WeightsError) and their size against what one ONNX file
    holds (passes.memory.TooLarge). `guards`: check the inputs in the graph (onnx_guards).
    `external`: (an open binary file, its file name beside the graph): the parameters are
    written there as ONNX external data while the graph is built, so a `Drawn` mapping (each
    weight drawn when read) never holds more than one tensor, and the graph has no 2 GiB bound.
    `weightless`: no values at all; every parameter and buffer is a graph input named as in
    the state_dict, of its dtype and shape (`weights` a Drawn mapping, read for shapes only).
    `stream`: an open binary file the whole model is written to, each large parameter as it is
    drawn (Builder._write_inline), so neither the weights nor their serialized copy are ever
    held together; the proto returned then lacks those parameters (it describes the file).
    `fuse`: onnxruntime's fused contrib operators where an op has one (domain com.microsoft;
    the graph then runs on onnxruntime only); the proto's `metadata_props` say how many of
    each kind were fused."""
    import onnx
    from onnx import helper

    from ...checks.memory import check_onnx_size
    from ...passes.weights import check_weights

    from ...passes.weights import Drawn
    if not isinstance(weights, Drawn):        # drawn from the IR: they fit by construction
        check_weights(model, weights)
    if external is None and not weightless:
        check_onnx_size(model)
    b = Builder(weights, external, weightless, fuse, stream)
    for p in model.inputs:
        b._names.add(p.value)
    for n in model.nodes:
        b._names.update(n.outputs)
    checked = []
    if guards:
        from .guards import emit_guards
        renamed = emit_guards(b, model)
        model = _reading(model, renamed)
        checked = [value_info(renamed[p.value], p.type) for p in model.inputs if p.value in renamed]
    problems = []
    for n in model.nodes:
        try:
            b.lower(n, list(n.inputs), list(n.outputs))
        except Unsupported as e:
            problems.append(unsupported(n, "ONNX", str(e)))
    if problems:
        raise BackendError(problems, model.sources)
    outputs = []
    for p in model.outputs:
        if p.value != p.name:       # `output mu` of a value already named mu: no copy needed
            b.node("Identity", [p.value], [p.name], name=f"output_{p.name}")
        outputs.append(value_info(p.name, p.type))
    inputs = [value_info(p.name, p.type) for p in model.inputs]
    inputs += [helper.make_tensor_value_info(k, b.inits[k].data_type, list(b.inits[k].dims))
               for k in b.inits if k in b.free]
    for k in b.free:
        del b.inits[k]
    graph = helper.make_graph(b.nodes, model.name, inputs, outputs, value_info=checked)
    opsets = [helper.make_opsetid("", OPSET)]
    if any(n.domain == CONTRIB for n in b.nodes):
        opsets.append(helper.make_opsetid(CONTRIB, 1))
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="dslc")
    proto.ir_version = IR_VERSION
    if fuse:
        helper.set_model_props(proto, {"dslc.fused": ", ".join(
            f"{kind} {len(done)} of {len(every)}" for kind, (done, every) in sorted(b.fused.items()))})
    if check:
        onnx.checker.check_model(_checked_copy(proto, b.inits.values(), b.streamed), full_check=True)
    # moved in one at a time: each initializer made by the builder is freed once copied into
    # the graph, so the weights exist once (make_graph and make_model would copy them twice)
    for name in list(b.inits):
        t = b.inits.pop(name)
        if name not in b.streamed:         # those are in the file already
            proto.graph.initializer.add().CopyFrom(t)
    if stream is not None:
        stream.write(proto.SerializeToString())
    return proto


def _checked_copy(proto, inits, streamed=frozenset()):
    """What the checker reads: the graph (no initializers yet) with the small initializers
    and, for the large ones, those in an external file and those `streamed`, graph inputs of
    their type and shape, which the checker and shape inference treat alike; the weights are
    not copied (serialized for the checker, they were a copy and a parse of the whole model)."""
    from onnx import TensorProto, helper
    copy = type(proto)()
    copy.CopyFrom(proto)
    for t in inits:
        if t.data_location == TensorProto.EXTERNAL or len(t.raw_data) >= EXTERNAL_MIN or \
                t.name in streamed:
            copy.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            copy.graph.initializer.append(t)
    return copy
