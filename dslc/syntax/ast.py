"""Frozen AST nodes; every node carries the span of the text it came from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..diagnostics import Span


@dataclass(frozen=True)
class Node:
    span: Span


def children(node) -> list:
    """The AST nodes directly inside `node` (through tuples, and the values of records)."""
    out, todo = [], [getattr(node, f) for f in node.__dataclass_fields__ if f != "span"] \
        if isinstance(node, Node) else []
    while todo:
        v = todo.pop()
        if isinstance(v, Node):
            out.append(v)
        elif isinstance(v, tuple):
            todo.extend(v)
    return out


# ---- expressions ----
@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Literal(Node):
    value: Any


@dataclass(frozen=True)
class TupleLit(Node):
    items: tuple


@dataclass(frozen=True)
class ListLit(Node):
    items: tuple


@dataclass(frozen=True)
class RecordLit(Node):
    entries: tuple  # ((name, expr), ...)


@dataclass(frozen=True)
class BinOp(Node):
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Neg(Node):
    operand: Any


@dataclass(frozen=True)
class Not(Node):
    operand: Any


@dataclass(frozen=True)
class Pipe(Node):
    source: Any
    stage: Any


@dataclass(frozen=True)
class Arg(Node):
    name: str | None  # None for positional
    value: Any


@dataclass(frozen=True)
class Call(Node):
    func: Any
    args: tuple  # Arg, ...


@dataclass(frozen=True)
class IfExpr(Node):
    cond: Any
    then: Any
    other: Any


# ---- declarations ----
@dataclass(frozen=True)
class EllipsisDim(Node):
    """`...` in a shape pattern: any number of axes (a block port's pattern only)."""


@dataclass(frozen=True)
class TensorTypeExpr(Node):
    dtype: str | None
    dims: tuple

    @property
    def ellipsis(self) -> int | None:
        """The position of the (first) `...` among the dims, or None."""
        return next((i for i, d in enumerate(self.dims) if isinstance(d, EllipsisDim)), None)


@dataclass(frozen=True)
class Param(Node):
    name: str
    type: Any  # str (scalar type name), TensorTypeExpr, or None
    default: Any


@dataclass(frozen=True)
class Input(Node):
    name: str
    type: TensorTypeExpr
    where: tuple = ()   # constraint expressions on its symbols


@dataclass(frozen=True)
class Output(Node):
    names: tuple  # `output y = ...`, or `output out, h, c = lstm(...)` for several
    value: Any    # None: output existing names


@dataclass(frozen=True)
class Assign(Node):
    targets: tuple
    value: Any


@dataclass(frozen=True)
class Return(Node):
    values: tuple


@dataclass(frozen=True)
class ModelDef(Node):
    name: str
    params: tuple
    body: tuple


@dataclass(frozen=True)
class BlockDef(Node):
    name: str
    params: tuple
    body: tuple

    @property
    def ports(self) -> tuple:
        return tuple(p for p in self.params if isinstance(p.type, TensorTypeExpr))

    @property
    def hyper(self) -> tuple:
        return tuple(p for p in self.params if not isinstance(p.type, TensorTypeExpr))


@dataclass(frozen=True)
class Import(Node):
    path: str


@dataclass(frozen=True)
class File(Node):
    models: tuple
    blocks: tuple
    imports: tuple = ()
