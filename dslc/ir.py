"""The typed IR: tensor types, nodes, models, programs. Frozen pydantic values.

Backends read shapes and parameter shapes from here and compute none of their own.
"""
from __future__ import annotations

from math import prod
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from .diagnostics import Diagnostic, SourceMap, Span
from .dims import Dim, fmt_shape

DTYPES = ("f16", "f32", "f64", "bf16", "i8", "i32", "i64", "u8", "bool")
FLOAT_DTYPES = ("f16", "f32", "f64", "bf16")


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

    @property
    def kind(self) -> str:
        return self.op.kind

    def pname(self, local: str) -> str:
        """The full name of a parameter or buffer: under the owner's name when tied."""
        return f"{self.tied_to or self.name}.{local}"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {self.pname(k): v for k, v in self.op.params(*self.in_types).items()}

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        return {self.pname(k): v for k, v in self.op.buffers(*self.in_types).items()}

    def params(self) -> int:
        return sum(prod(s) for s in self.param_shapes().values())

    def macs(self) -> Dim:
        return Dim.of(self.op.macs(self.in_types, self.out_types))


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

    @property
    def trainable_params(self) -> int:
        frozen = {k for n in self.nodes if n.frozen for k in n.param_shapes()}
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

    # ---- backends (imported lazily: the core never imports torch or onnx) ----
    def weights(self, seed: int = 0) -> dict:
        from .passes.weights import init_weights
        return init_weights(self, seed)

    def to_torch(self, seed: int = 0, weights: dict | None = None):
        from .backends.torch import build_module
        return build_module(self, weights if weights is not None else self.weights(seed))

    def to_onnx(self, seed: int = 0, weights: dict | None = None):
        from .backends.onnx import build_onnx
        return build_onnx(self, weights if weights is not None else self.weights(seed))


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


__all__ = ["TensorType", "tensor", "Port", "Node", "Model", "Program", "SourceMap", "DTYPES"]
