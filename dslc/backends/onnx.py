"""IR -> onnx.ModelProto. Initializers carry the torch state_dict names; symbolic dims become
dim_param on inputs and outputs. Each op emits its own nodes through `Builder`."""
from __future__ import annotations

import numpy as np

from ..ops.base import Unsupported
from . import BackendError, unsupported

OPSET = 21          # LayerNormalization (17), Gelu (20), Pad wrap mode (19)
IR_VERSION = 10     # the IR version of opset 21; onnxruntime >= 1.17 loads it

_DTYPES = {"f16": "FLOAT16", "f32": "FLOAT", "f64": "DOUBLE", "bf16": "BFLOAT16", "i8": "INT8",
           "i32": "INT32", "i64": "INT64", "u8": "UINT8", "bool": "BOOL"}


def onnx_dtype(dtype: str) -> int:
    from onnx import TensorProto
    return getattr(TensorProto, _DTYPES[dtype])


class Builder:
    """A small tape: nodes, initializers and fresh names, with the model's weights at hand."""

    def __init__(self, weights: dict):
        self.nodes: list = []
        self.inits: dict = {}
        self.weights = weights
        self._names: set[str] = set()

    def sub(self) -> "Builder":
        """A builder for a subgraph (a Scan body): its own nodes; initializers, constants and
        names shared with the main graph, whose values a subgraph may read."""
        s = Builder(self.weights)
        s.inits, s._names = self.inits, self._names
        return s

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
        self.nodes.append(helper.make_node(op_type, inputs, outputs,
                                           name=self.fresh(name or op_type), **attrs))
        return outputs

    def param(self, node, local: str) -> str:
        """The initializer for a node's parameter or buffer, named as in the torch state_dict
        (a tied node reads its owner's)."""
        full_name = node.pname(local)
        if full_name not in self.inits:
            if full_name not in self.weights:
                raise KeyError(f"no weight named `{full_name}`")
            self.const(np.asarray(self.weights[full_name], dtype=np.float32), full_name)
        return full_name

    def const(self, array, hint: str = "const") -> str:
        from onnx import numpy_helper
        name = hint if hint not in self._names and hint not in self.inits else self.fresh(hint)
        self._names.add(name)
        self.inits[name] = numpy_helper.from_array(np.asarray(array), name)
        return name

    def ints(self, values, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64), hint)


def value_info(name: str, t):
    from onnx import helper
    dims = [d.value if d.is_const() else str(d) for d in t.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(t.dtype), dims)


def _as_numpy(weights: dict) -> dict:
    out = {}
    for k, v in weights.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().float().numpy()
        out[k] = np.asarray(v)
    return out


def build_onnx(model, weights: dict, check: bool = True):
    import onnx
    from onnx import helper

    weights = _as_numpy(weights)
    missing = [k for k in {**model.param_shapes(), **model.buffer_shapes()} if k not in weights]
    if missing:
        raise KeyError(f"weights lack {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    b = Builder(weights)
    for p in model.inputs:
        b._names.add(p.value)
    for n in model.nodes:
        b._names.update(n.outputs)
    problems = []
    for n in model.nodes:
        try:
            n.op.onnx(b, n, list(n.inputs), list(n.outputs))
        except Unsupported as e:
            problems.append(unsupported(n, "ONNX", str(e)))
    if problems:
        raise BackendError(problems, model.sources)
    outputs = []
    for p in model.outputs:
        b.node("Identity", [p.value], [p.name], name=f"output_{p.name}")
        outputs.append(value_info(p.name, p.type))
    graph = helper.make_graph(b.nodes, model.name, [value_info(p.name, p.type) for p in model.inputs],
                              outputs, initializer=list(b.inits.values()))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="dslc")
    proto.ir_version = IR_VERSION
    if check:
        onnx.checker.check_model(proto, full_check=True)
    return proto
