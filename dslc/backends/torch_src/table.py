"""The torch-src table: one entry per op class, registered in this package's module of the op's
family (`@source.register(Conv)` in backends/torch_src/convolution.py) and found through the
class's MRO, like the torch and ONNX tables. An entry `fn(op, c)` writes the node's code from
the op's fields and the node's IR types through `c` (writer._Ctx: the input expressions
`c.ins`, `c.module(expr)` for a submodule holding the node's parameters at the interpreter's
names, `c.set(expr)` for the outputs, `c.line(stmt)` before that), or raises Unsupported (an
E401 at the spec line)."""
from __future__ import annotations

from functools import singledispatch

from ...ops.base import Unsupported
from .. import entry_in, load_lowerings


@singledispatch
def source(op, c):
    raise Unsupported(f"{op.kind} has no torch-src source form")


def load() -> None:
    load_lowerings(__package__)


def entry(op_cls):
    """The source entry `op_cls` takes (its own or an ancestor's), or None."""
    load()
    return entry_in(source, op_cls)


def write(op, c) -> None:
    load()
    source(op, c)
