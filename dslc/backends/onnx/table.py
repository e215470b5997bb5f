"""The ONNX lowering table: one entry per op class, registered in the backend module of the op's
family (`@lowering.register(Conv)` in backends/onnx/convolution.py) and found through the class's
MRO, so a variant (conv2d of the convolutions) takes its family's entry. An entry
`fn(op, b, node, ins, outs)` emits nodes computing `outs` from `ins` into the Builder `b`, or
raises Unsupported (an E401 at the spec line).

`fused` is the --fuse dialect: onnxruntime's contrib form for the few ops that have one
(`@fused.register(Attention)`); every other op, and an instance its contrib op cannot take,
goes to the standard table."""
from __future__ import annotations

from functools import singledispatch

from ...ops.base import Unsupported
from .. import entry_in, load_lowerings


@singledispatch
def lowering(op, b, node, ins, outs) -> None:
    raise Unsupported(f"{op.kind} has no ONNX lowering")


@singledispatch
def fused(op, b, node, ins, outs) -> None:
    lowering(op, b, node, ins, outs)


def load() -> None:
    load_lowerings(__package__)


def entry(op_cls):
    """The lowering `op_cls` takes (its own or an ancestor's), or None."""
    load()
    return entry_in(lowering, op_cls)


def lower(op, b, node, ins, outs) -> None:
    """Emit `op`'s nodes through the builder's dialect (b.fuse: the fused table)."""
    load()
    (fused if b.fuse else lowering)(op, b, node, ins, outs)
