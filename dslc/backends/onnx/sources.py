"""The onnx lowerings of the sources ops (dslc/ops/sources.py)."""
from __future__ import annotations

from ...ops.sources import Bernoulli, Param, _Noise
from .table import lowering
from functools import singledispatch


@singledispatch
def from_noise(op, *args):
    raise NotImplementedError(f"{type(op).__name__} has no from_noise")


@lowering.register(Param)
def _param(op, b, node, ins, outs):
    b.node("Identity", [b.param(node, "weight")], outs, name=node.name)


@lowering.register(_Noise)
def _noise(op, b, node, ins, outs):
    if len(ins) == 2:
        from_noise(op, b, node, ins, outs)
        return
    shape = b.node("Shape", [ins[0]], name=f"{node.name}.shape")[0]
    mean = b.scalar(op.mean, node.out_types[0].dtype, f"{node.name}.mean")
    b.node("Expand", [mean, shape], outs, name=node.name)


@from_noise.register(_Noise)
def _noise_from_noise(op, b, node, ins, outs):
    b.node("Identity", [ins[1]], outs, name=node.name)


@lowering.register(Bernoulli)
def _bernoulli(op, b, node, ins, outs):
    if len(ins) == 2:
        lowering.dispatch(_Noise)(op, b, node, ins, outs)
    else:
        b.node("Identity", ins, outs, name=node.name)


@from_noise.register(Bernoulli)
def _bernoulli_from_noise(op, b, node, ins, outs):
    from .builder import onnx_dtype
    less = b.node("Less", [ins[1], ins[0]], name=f"{node.name}.less")[0]
    b.node("Cast", [less], outs, name=node.name, to=onnx_dtype(node.out_types[0].dtype))
