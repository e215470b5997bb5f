"""Running ONNX graphs on onnxruntime: provider choice, inputs, timing, and onnxruntime's
missing kernels (bf16 on the CPU provider, f64 for several ops) mapped back to spec lines."""
from __future__ import annotations

import math
import re
import statistics
import time

import numpy as np

try:
    from ml_dtypes import bfloat16      # onnx's dependency: numpy's bfloat16
except ImportError:                     # pragma: no cover - without onnx no bf16 graph exists
    bfloat16 = None

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
NUMPY_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
                "tensor(bool)": np.bool_, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
                **({"tensor(bfloat16)": bfloat16} if bfloat16 is not None else {})}
_IR_DTYPES = {"FLOAT": "f32", "FLOAT16": "f16", "BFLOAT16": "bf16", "DOUBLE": "f64",
              "INT8": "i8", "INT32": "i32", "INT64": "i64", "UINT8": "u8", "BOOL": "bool"}
_IR_TYPES = {f"tensor({k.lower()})": v for k, v in _IR_DTYPES.items()}


class RunError(Exception):
    """A usage problem (no such provider, a dim without a value): one clear line."""


class NoKernel(RunError):
    """onnxruntime's provider has no kernel for an operator at the dtype the graph uses it in
    (the CPU provider has none in bf16 for Gemm, MatMul, Relu, ...; none in f64 for Conv, RNN,
    LSTM, ...). `layer` and `span`: the IR node the ONNX node comes from, when known."""

    def __init__(self, provider: str, op_type: str, dtype: str | None, onnx_node: str,
                 layer: str | None = None, span=None, within: str | None = None):
        self.provider, self.op_type, self.dtype = provider, op_type, dtype
        self.onnx_node, self.layer, self.span, self.within = onnx_node, layer, span, within
        where = []
        if within:
            where.append(f"inside {within}")
        if layer:
            where.append(f"layer {layer}" + (f" at {span}" if span else ""))
        elif onnx_node:
            where.append(f"node {onnx_node}")
        super().__init__(f"onnxruntime's {provider.upper()} provider has no "
                         f"{dtype + ' ' if dtype else ''}kernel for {op_type}"
                         + (f" ({', '.join(where)})" if where else ""))


def _graph(model):
    import onnx
    if hasattr(model, "SerializeToString"):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return onnx.load(str(model))


def ir_node_for(onnx_name: str, spec):
    """The IR node an ONNX node comes from: its name is the IR node's, or derived from it by
    Builder.fresh (`dense_1_2`) or a part (`attention_1.q.matmul`). The longest match wins."""
    best = None
    for n in spec.walk():
        name = n.name
        if onnx_name == name or onnx_name.startswith(name + ".") or \
                re.fullmatch(re.escape(name) + r"_\d+(\..*)?", onnx_name):
            if best is None or len(name) > len(best.name):
                best = n
    return best


def _value_types(graph) -> dict[str, int]:
    import onnx
    try:
        graph = onnx.shape_inference.infer_shapes(graph)
    except Exception:
        pass
    g = graph.graph
    types = {t.name: t.data_type for t in g.initializer}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        types.setdefault(vi.name, vi.type.tensor_type.elem_type)
    return types


def _subgraph_nodes(nodes):
    for n in nodes:
        yield n
        for a in n.attribute:
            if a.g.node:
                yield from _subgraph_nodes(a.g.node)


def _expansion(node, types: dict) -> set[str]:
    """The operators of the ONNX function a node stands for (what onnxruntime runs when it has
    no kernel for the node itself), or none."""
    import onnx
    from onnx import helper
    try:
        schema = onnx.defs.get_schema(node.op_type, 21, node.domain)
        if schema.has_function:
            return {f.op_type for f in schema.function_body.node}
        if schema.has_context_dependent_function:
            ins = [helper.make_tensor_type_proto(types.get(i, 1), None).SerializeToString()
                   for i in node.input]
            f = onnx.FunctionProto()
            f.ParseFromString(schema.get_context_dependent_function(node.SerializeToString(), ins))
            return {g.op_type for g in f.node}
    except Exception:
        pass
    return set()


def no_kernel(message: str, model, spec=None, provider: str = "cpu") -> NoKernel | None:
    """A NoKernel for onnxruntime's message when it says an operator has no kernel (at
    session creation: NOT_IMPLEMENTED "Could not find an implementation for Gemm(13) node with
    name 'dense_1'"; at run time: "... running LSTM node. Name:'lstm_1.layer0' Status Message:
    LSTM operator does not support double yet"), else None."""
    import onnx
    m = re.search(r"Could not find an implementation for (\w+)\(\d+\) node with name '([^']*)'",
                  message)
    m = m or re.search(r"running (\w+) node\. Name:'([^']*)' Status Message: .*does not support", message)
    if not m:
        return None
    op_type, name = m.group(1), m.group(2)
    try:
        graph = _graph(model)
    except Exception:
        return NoKernel(provider, op_type, None, name)
    nodes = list(_subgraph_nodes(graph.graph.node))
    node, within = next((n for n in nodes if name and n.name == name), None), None
    types = _value_types(graph)
    if node is None:        # inside a function onnxruntime expanded (Gelu -> Erf): its caller
        node = next((n for n in nodes if n.op_type == op_type), None) or \
            next((n for n in nodes if op_type in _expansion(n, types)), None)
        within = node.op_type if node is not None and node.op_type != op_type else None
    dtype = None
    if node is not None:
        names = {v: k for k, v in onnx.TensorProto.DataType.items()}
        for v in list(node.input) + list(node.output):
            ir = _IR_DTYPES.get(names.get(types.get(v, 0), ""))
            if ir in ("f16", "bf16", "f32", "f64"):
                dtype = ir
                break
    ir_node = ir_node_for(node.name, spec) if node is not None and spec is not None else None
    return NoKernel(provider, op_type, dtype, node.name if node is not None else name,
                    ir_node.name if ir_node is not None else None,
                    ir_node.span if ir_node is not None else None, within)


def session(model, provider: str = "cpu", spec=None):
    """An onnxruntime InferenceSession on the chosen provider ("cpu" or "cuda"). `model` is
    serialized bytes, an onnx.ModelProto, or a path; `spec` the IR model it was compiled
    from, to locate a missing kernel. RunError if the provider is absent (or onnxruntime
    could not start it and fell back to the CPU); NoKernel if it has no kernel for an
    operator at the graph's dtype."""
    import onnxruntime as ort
    want = PROVIDERS.get(provider)
    if want is None:
        raise RunError(f"unknown provider `{provider}` (choose {', '.join(PROVIDERS)})")
    available = ort.get_available_providers()
    if want not in available:
        raise RunError(f"the {provider.upper()} execution provider is not available in this "
                       f"onnxruntime (available: {', '.join(available)})"
                       + ("; install onnxruntime-gpu on a machine with CUDA" if provider == "cuda" else ""))
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, (bytes, bytearray)):
        model = str(model)
    providers = [want] + (["CPUExecutionProvider"] if want != "CPUExecutionProvider" else [])
    try:
        sess = ort.InferenceSession(model, providers=providers)
    except Exception as e:
        missing = no_kernel(str(e), model, spec, provider) \
            if type(e).__module__.startswith("onnxruntime") else None
        if missing is None:
            raise
        raise missing from None
    sess._dslc_source = (model, spec, provider)     # for run-time kernel failures
    if want not in sess.get_providers():
        raise RunError(f"onnxruntime could not start the {provider.upper()} execution provider "
                       "(its libraries failed to load; see onnxruntime's warning above)")
    return sess


def input_signature(sess, spec=None):
    """The inputs' boundary (dslc.checks.guards.Signature): the spec's when compiled from one (its
    `where` constraints included), else the session's: fixed sizes, and dims named by a bare
    symbol; other named dims (`2*H`) and unnamed ones go unchecked."""
    from ...ir.dims import Dim
    from ...checks.guards import Signature, Slot, signature
    if spec is not None:
        return signature(spec)
    def dim(d):
        if isinstance(d, int):
            return Dim.of(d)
        return Dim.of(d) if isinstance(d, str) and d.isidentifier() else None
    name = getattr(sess.get_modelmeta(), "graph_name", "") or "graph"
    return Signature(name, tuple(Slot(i.name, _IR_TYPES.get(i.type),
                                      tuple(dim(d) for d in i.shape))
                                 for i in sess.get_inputs()))


def ir_dtype(dtype) -> str:
    """The IR dtype of a numpy dtype (its own name when the IR has none)."""
    dtype = np.dtype(dtype)
    for onnx_type, np_type in NUMPY_DTYPES.items():
        if np.dtype(np_type) == dtype:
            return _IR_TYPES[onnx_type]
    return dtype.name


def input_feeds(sess, given: dict, dims: dict | None = None, seed: int = 0, spec=None,
                given_by: str = "dims") -> dict[str, np.ndarray]:
    """`given` (input name -> array) checked by dslc.checks.guards' rule, symbols read from them and
    from `dims`, and random arrays for the other inputs (a batch symbol nobody gives takes its
    smallest allowed value). dslc.checks.guards.InputError lists what does not fit."""
    from ...checks.guards import bind, bounds, check_values, complete
    sig = input_signature(sess, spec)
    env = bind(sig, {k: np.shape(v) for k, v in given.items()},
               {k: ir_dtype(np.asarray(v).dtype) for k, v in given.items()}, dims, given_by)
    rest = [i for i in sess.get_inputs() if i.name not in given]
    shapes = complete(sig, env, {i.name for i in rest})
    env = bind(sig, {**{k: np.shape(v) for k, v in given.items()}, **shapes}, None, dims, given_by)
    check_values(sig, given, env)
    ranges = bounds(sig, env)
    _fits(sig, [shapes[i.name] for i in rest])
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in rest:
        dtype, shape = NUMPY_DTYPES.get(inp.type, np.float32), shapes[inp.name]
        if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
            low, high = ranges.get(inp.name, (0, 1))      # ids and lengths in their range
            feeds[inp.name] = rng.integers(low, high + 1, size=shape).astype(dtype)
        else:
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
    return {i.name: given[i.name] if i.name in given else feeds[i.name]
            for i in sess.get_inputs()}


def _fits(sig, shapes) -> None:
    """InputError when drawing random inputs of these shapes (a float64 draw and its cast,
    16 bytes an element) would not fit in the memory available."""
    from ...checks.guards import InputError
    from ...checks.memory import available_memory, fmt_bytes
    size = 16 * sum(math.prod(s) for s in shapes)
    free = available_memory()[0]
    if size > free:
        raise InputError(sig.model, [f"random inputs of shapes {', '.join(map(str, map(list, shapes)))} "
                                     f"need {fmt_bytes(size)}, over the {fmt_bytes(free)} available; "
                                     "give smaller sizes (--dim) or the inputs (--input)"])


def _bf16_out(v) -> np.ndarray:
    """An OrtValue holding bf16 (onnxruntime's numpy() cannot): copied out as ml_dtypes'."""
    import ctypes
    shape = tuple(v.shape())
    n = int(np.prod(shape))
    raw = (ctypes.c_uint16 * n).from_address(v.data_ptr()) if n else []
    return np.array(raw, dtype=np.uint16).view(bfloat16).reshape(shape)


def _runner(sess, feeds: dict):
    """A function running the session on `feeds`, that also takes and returns bf16 arrays
    (onnxruntime's Python API converts neither way: bf16 goes through OrtValues)."""
    import onnxruntime as ort
    from onnx import TensorProto
    quiet = ort.RunOptions()
    quiet.log_severity_level = 4    # a failing kernel is reported once, by the exception
    metas = list(sess.get_inputs()) + list(sess.get_outputs())
    if not any(m.type == "tensor(bfloat16)" for m in metas):
        return lambda: sess.run(None, feeds, quiet)
    values = {k: ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
        np.ascontiguousarray(v).view(np.uint16), TensorProto.BFLOAT16)
        if bfloat16 is not None and getattr(v, "dtype", None) == bfloat16 else v
        for k, v in feeds.items()}
    values = {k: v if isinstance(v, ort.OrtValue) else ort.OrtValue.ortvalue_from_numpy(np.asarray(v))
              for k, v in values.items()}

    def go():
        outs = sess.run_with_ort_values(None, values, quiet)
        return [_bf16_out(o) if o.data_type() == "tensor(bfloat16)" else o.numpy() for o in outs]
    return go


def timed_run(sess, feeds: dict, repeat: int = 10):
    """(outputs, median latency in ms) after one warm-up run. NoKernel when an operator fails
    at run time for want of a kernel in its dtype (onnxruntime's f64 LSTM and GRU)."""
    go = _runner(sess, feeds)
    try:
        outputs = go()
    except Exception as e:
        source = getattr(sess, "_dslc_source", None)
        missing = no_kernel(str(e), source[0], source[1], source[2]) \
            if source is not None and type(e).__module__.startswith("onnxruntime") else None
        if missing is None:
            raise
        raise missing from None
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        go()
        times.append((time.perf_counter() - t) * 1000)
    return outputs, statistics.median(times)


def run(model, feeds: dict | None = None, *, provider: str = "cpu", dims: dict | None = None,
        seed: int = 0, repeat: int = 1, spec=None) -> tuple[dict[str, np.ndarray], float]:
    """Run an ONNX model (bytes, ModelProto, path) once: random inputs for those not in `feeds`
    (input_feeds: symbols from `dims` and from the given feeds, a batch nobody gives at its
    smallest allowed value; dslc.checks.guards.InputError when they do not fit). Returns ({output
    name: array}, median ms). `spec`: the IR model it was compiled from, to locate a missing
    kernel (NoKernel) and to check its `where` constraints."""
    sess = session(model, provider, spec)
    feeds = input_feeds(sess, dict(feeds or {}), dims or {}, seed, spec)
    outputs, ms = timed_run(sess, feeds, repeat)
    return {o.name: y for o, y in zip(sess.get_outputs(), outputs)}, ms
