"""The onnx lowerings of the arith ops (dslc/ops/arith.py)."""
from __future__ import annotations

from ...ops.arith import Ne, Where, _Direct, _Elementwise2
from .table import lowering
from functools import singledispatch


@singledispatch
def emit(op, *args):
    raise NotImplementedError(f"{type(op).__name__} has no emit")


@lowering.register(_Elementwise2)
def _elementwise2(op, b, node, ins, outs):
    if op.scalar is not None:
        c = b.scalar(op.scalar, node.in_types[0].dtype, f"{node.name}.scalar")
        ins = [c, ins[0]] if op.reverse else [ins[0], c]
    emit(op, b, node, ins, outs)


@emit.register(_Elementwise2)
def _elementwise2_emit(op, b, node, ins, outs):
    b.node(op.onnx_type, ins, outs, name=node.name)


@lowering.register(_Direct)
def _direct(op, b, node, ins, outs):
    b.node(op.onnx_type, ins, outs, name=node.name)


@emit.register(Ne)
def _ne_emit(op, b, node, ins, outs):
    eq = b.node("Equal", ins, name=f"{node.name}.eq")[0]
    b.node("Not", [eq], outs, name=node.name)


@lowering.register(Where)
def _where(op, b, node, ins, outs):
    if op.other is not None:
        ins = ins + [b.scalar(op.other, node.out_types[0].dtype, f"{node.name}.other")]
    b.node("Where", ins, outs, name=node.name)
