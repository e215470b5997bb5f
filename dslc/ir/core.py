"""The typed IR: tensor types, nodes, models, programs. Frozen pydantic values.

Backends read shapes and parameter shapes from here and compute none of their own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from ..diagnostics import Diagnostic, SourceMap, Span
from .dims import Dim, fmt_shape

DTYPES = ("f16", "f32", "f64", "bf16", "i8", "i32", "i64", "u8", "bool")
FLOAT_DTYPES = ("f16", "f32", "f64", "bf16")
INT_DTYPES = ("i8", "i32", "i64", "u8")
HALF_DTYPES = ("f16", "bf16")


@dataclass(frozen=True)
class InitVal:
    """An initialiser: `normal(std=0.02)`, `constant(0.5)`, ... (a node's `init` holds them)."""
    fn: str
    args: dict = field(default_factory=dict)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)


class TensorType(_Frozen):
    dtype: str = "f32"
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(dtype=self.dtype, shape=tuple(Dim.of(d) for d in shape))

    def __str__(self) -> str:
        return f"{self.dtype}{fmt_shape(self.shape)}"

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": [d.to_json() for d in self.shape]}


def tensor(shape, dtype: str = "f32") -> TensorType:
    return TensorType(dtype=dtype, shape=tuple(Dim.of(d) for d in shape))


class Port(_Frozen):
    name: str
    value: str          # the value name inside the graph
    type: TensorType
    span: Span


class Node(_Frozen):
    """One op application. `name` is the dotted scope of its parameters (`block1.conv2`)."""
    name: str
    op: SerializeAsAny[Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    in_types: tuple[TensorType, ...]
    out_types: tuple[TensorType, ...]
    span: Span
    call_sites: tuple[Span, ...] = ()   # block call sites, outermost first
    blocks: tuple[str, ...] = ()        # the blocks those calls instantiate
    frozen: bool = False
    init: dict[str, Any] = {}           # param name -> init spec (see passes/weights.py)
    tied_to: str | None = None          # a node whose parameters this one uses (`tie=`)
    ties: dict[str, str] = {}           # local -> the node whose parameter it uses (`tie={...}`)

    @property
    def kind(self) -> str:
        return self.op.kind

    def describe(self) -> str:
        """The op with its hyperparameters, tensor arguments by the values they take."""
        return self.op.describe(self.inputs)

    def pname(self, local: str) -> str:
        """The full name of a parameter or buffer: under the owner's name when tied."""
        return f"{self.owner_of(local)}.{local}"

    def owner_of(self, local: str) -> str:
        """The node whose parameter `local` this node uses: its own name unless tied."""
        return self.ties.get(local) or self.tied_to or self.name

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {self.pname(k): v for k, v in self.op.params(*self.in_types).items()}

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        return {self.pname(k): v for k, v in self.op.buffers(*self.in_types).items()}

    def params(self) -> int:
        return sum(prod(s) for s in self.param_shapes().values())

    def own_params(self) -> int:
        """The elements of the parameters this node owns: a tied node's are its owner's."""
        return sum(prod(s) for k, s in self.op.params(*self.in_types).items()
                   if self.owner_of(k) == self.name)

    def macs(self) -> Dim:
        return Dim.of(self.op.macs(self.in_types, self.out_types))

    @property
    def upcast(self) -> bool:
        """True when the op is computed in f32 for precision (`Op.precise`) and its floating
        tensors are half precision (f16 or bf16): both backends cast around it."""
        return bool(getattr(self.op, "precise", False)) and any(
            t.dtype in HALF_DTYPES for t in (*self.in_types, *self.out_types))

    @property
    def param_dtype(self) -> str:
        """The dtype of this node's parameters and buffers in both backends: f32 for a precise
        op on half-precision tensors; else the first floating dtype among out_types, then
        in_types; else f32. (The weights themselves are drawn in f32; backends cast them.)"""
        if self.upcast:
            return "f32"
        for t in (*self.out_types, *self.in_types):
            if t.dtype in FLOAT_DTYPES:
                return t.dtype
        return "f32"


class Model(_Frozen):
    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    nodes: tuple[Node, ...]
    span: Span
    constraints: dict[str, dict] = {}   # symbol -> {"mod", "min", "max"} from `where`
    sources: Any = None  # SourceMap, for renders

    # ---- counts (derived, never stored) ----
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for n in self.nodes:
            out.update(n.param_shapes())
        return out

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {}
        for n in self.nodes:
            out.update(n.buffer_shapes())
        return out

    @property
    def params(self) -> int:
        return sum(prod(s) for s in self.param_shapes().values())

    def own_params(self) -> int:
        """The elements of the parameters this node owns: a tied node's are its owner's."""
        return sum(prod(s) for k, s in self.op.params(*self.in_types).items()
                   if self.owner_of(k) == self.name)

    @property
    def trainable_params(self) -> int:
        frozen = frozen_param_names(self)
        return sum(prod(s) for k, s in self.param_shapes().items() if k not in frozen)

    @property
    def buffers(self) -> int:
        return sum(prod(s) for s in self.buffer_shapes().values())

    def symbols(self) -> list[str]:
        seen: list[str] = []
        for p in self.inputs:
            for d in p.type.shape:
                seen += [s for s in sorted(d.symbols()) if s not in seen]
        return seen

    # ---- precision ----
    def with_dtype(self, dtype: str) -> "Model":
        """The same model with every f32 tensor type turned into `dtype` (a floating dtype):
        inputs, outputs, every node's input and output types, scan bodies, and any op field
        named `dtype` that says f32 (`cast(f32)`). Other dtypes (integer ids, bool masks, an
        explicit f64) stay. Names, parameter shapes and counts are unchanged."""
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"with_dtype takes a floating dtype ({', '.join(FLOAT_DTYPES)}), "
                             f"got {dtype!r}")
        if dtype == "f32":
            return self
        return _retyped(self, dtype)

    def walk(self):
        """Every node, depth first: each node, then the nodes of the models its op runs (a
        scan's body, whose nodes keep their full names)."""
        for n in self.nodes:
            yield n
            for body in n.op.bodies():
                yield from body.walk()

    # ---- backends (imported lazily: the core never imports torch or onnx) ----
    def weights(self, seed: int = 0, max_memory: int | None = None) -> dict:
        """Every parameter and buffer drawn from `seed` (numpy, by dotted name); refused first
        (passes.memory.TooLarge) when the draw would not fit in `max_memory` bytes (None: the
        memory available)."""
        from ..passes.weights import init_weights
        return init_weights(self, seed, max_memory)

    def to_torch(self, seed: int = 0, weights: dict | None = None, dtype: str | None = None,
                 max_memory: int | None = None, kv_cache: bool = False):
        """An nn.Module; `dtype` (f16, bf16, f64) recompiles an f32 model in that precision
        (`with_dtype`): parameters in that dtype, precise ops in f32. `max_memory`: as for
        `weights`, when they are drawn. `kv_cache`: the model elab.kv_cache derives (forward
        takes the past keys and values after the inputs and returns the present ones after
        the outputs)."""
        from ..backends.torch.module import build_module
        model = self.with_dtype(dtype) if dtype else self
        if kv_cache:
            from ..elab.kv_cache import with_kv_cache
            model = with_kv_cache(model)
        return build_module(model, weights if weights is not None else model.weights(seed, max_memory))

    def to_torch_src(self, dtype: str | None = None) -> str:
        """The source of a Python module defining the model's nn.Module class (imports torch
        only; state_dict keys as `to_torch`'s); `dtype` as for `to_torch`."""
        from ..backends.torch_src.writer import to_torch_src
        return to_torch_src(self.with_dtype(dtype) if dtype else self)

    def to_onnx(self, seed: int = 0, weights: dict | None = None, dtype: str | None = None,
                guards: bool = False, max_memory: int | None = None, external=None,
                weightless: bool = False, fuse: bool = False, stream=None):
        """An onnx.ModelProto (checked); `dtype` as for `to_torch`; `guards`: the graph checks
        its inputs' symbols and `where` constraints (backends/onnx/guards.py). `external`:
        (an open binary file, its name beside the graph file) to write the parameters there as
        ONNX external data while they are drawn, one at a time (no 2 GiB bound). `stream`: an
        open binary file to write the whole model to, each parameter as it is drawn (the proto
        returned then lacks the large ones: it describes the file). `weightless`:
        no values; the parameters and buffers are graph inputs of their dtypes and shapes, named
        as in the state_dict (a graph of any size, for planning or for weights fed at run time).
        `fuse`: onnxruntime's fused contrib operators where an op has one (self-attention as
        com.microsoft.Attention); the graph then runs on onnxruntime only."""
        from ..backends.onnx.compile import compile_onnx
        return compile_onnx(self.with_dtype(dtype) if dtype else self, seed, weights, guards,
                            max_memory, external, weightless, fuse, stream)


def frozen_param_names(model) -> set[str]:
    """The full names of the frozen parameters of `model`: every parameter of a frozen node,
    scan bodies included (their parameters keep their full names)."""
    return {k for n in model.walk() if n.frozen for k in n.param_shapes()}


def _retype(t: TensorType, dtype: str) -> TensorType:
    return t.model_copy(update={"dtype": dtype}) if t.dtype == "f32" else t


def _retyped_op(op, dtype: str):
    update = {}
    if getattr(op, "dtype", None) == "f32" and "dtype" in getattr(type(op), "model_fields", {}):
        update["dtype"] = dtype
    update.update({f: _retyped(getattr(op, f), dtype) for f in op.regions})
    return op.model_copy(update=update) if update else op


def _retyped(model: Model, dtype: str) -> Model:
    ports = lambda ps: tuple(p.model_copy(update={"type": _retype(p.type, dtype)}) for p in ps)
    nodes = tuple(n.model_copy(update={
        "op": _retyped_op(n.op, dtype),
        "in_types": tuple(_retype(t, dtype) for t in n.in_types),
        "out_types": tuple(_retype(t, dtype) for t in n.out_types)}) for n in model.nodes)
    return model.model_copy(update={"inputs": ports(model.inputs), "outputs": ports(model.outputs),
                                    "nodes": nodes})


class Program(_Frozen):
    models: dict[str, Model]
    blocks: tuple[str, ...] = ()        # the blocks the file itself defines
    diagnostics: tuple[Diagnostic, ...] = ()
    sources: Any = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def model(self, name: str | None = None) -> Model:
        if name is None:
            if len(self.models) != 1:
                raise KeyError(f"the spec has {len(self.models)} models ({', '.join(self.models)});"
                               " name one")
            return next(iter(self.models.values()))
        return self.models[name]


__all__ = ["TensorType", "tensor", "Port", "Node", "Model", "Program", "SourceMap", "DTYPES",
           "FLOAT_DTYPES", "HALF_DTYPES"]
