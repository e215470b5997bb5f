"""The onnx lowerings of the activation ops (dslc/ops/activation.py)."""
from __future__ import annotations

from ...ops.activation import ELU, GELU, Hardtanh, LeakyReLU, Maxout, PReLU, QuickGELU, ReLU6, SELU, SiLU, Softmax, Softplus, Step, _Simple
from .table import lowering


def _onnx_dtype(dtype: str) -> int:
    from .builder import onnx_dtype
    return onnx_dtype(dtype)


@lowering.register(_Simple)
def _simple(op, b, node, ins, outs):
    b.node(op.onnx_type, ins, outs, name=node.name)


@lowering.register(SiLU)
def _silu(op, b, node, ins, outs):
    sig = b.node("Sigmoid", ins, name=f"{node.name}.sigmoid")[0]
    b.node("Mul", [ins[0], sig], outs, name=node.name)


@lowering.register(QuickGELU)
def _quick_gelu(op, b, node, ins, outs):
    k = b.scalar(1.702, node.in_types[0].dtype, f"{node.name}.k")
    scaled = b.node("Mul", [ins[0], k], name=f"{node.name}.scaled")[0]
    sig = b.node("Sigmoid", [scaled], name=f"{node.name}.sigmoid")[0]
    b.node("Mul", [ins[0], sig], outs, name=node.name)


@lowering.register(SELU)
def _selu(op, b, node, ins, outs):
    # ONNX's defaults are float32 roundings of the same constants torch uses.
    b.node("Selu", ins, outs, name=node.name)


@lowering.register(ReLU6)
def _relu6(op, b, node, ins, outs):
    dt = node.in_types[0].dtype
    b.node("Clip", [ins[0], b.scalar(0.0, dt, "zero"), b.scalar(6.0, dt, "six")], outs,
           name=node.name)


@lowering.register(LeakyReLU)
def _leaky_relu(op, b, node, ins, outs):
    b.node("LeakyRelu", ins, outs, name=node.name, alpha=float(op.negative_slope))


@lowering.register(ELU)
def _elu(op, b, node, ins, outs):
    b.node("Elu", ins, outs, name=node.name, alpha=float(op.alpha))


@lowering.register(GELU)
def _gelu(op, b, node, ins, outs):
    b.node("Gelu", ins, outs, name=node.name, approximate=op.approximate)


@lowering.register(Hardtanh)
def _hardtanh(op, b, node, ins, outs):
    dt = node.in_types[0].dtype
    b.node("Clip", [ins[0], b.scalar(op.min_val, dt, "min"), b.scalar(op.max_val, dt, "max")],
           outs, name=node.name)


@lowering.register(Softplus)
def _softplus(op, b, node, ins, outs):
    n, dt = node.name, node.in_types[0].dtype
    bx = b.node("Mul", [ins[0], b.scalar(op.beta, dt, "beta")], name=f"{n}.scale")[0]
    sp = b.node("Softplus", [bx], name=f"{n}.softplus")[0]
    soft = b.node("Div", [sp, b.scalar(op.beta, dt, "beta")], name=f"{n}.unscale")[0]
    big = b.node("Greater", [bx, b.scalar(op.threshold, dt, "threshold")], name=f"{n}.linear")[0]
    b.node("Where", [big, ins[0], soft], outs, name=n)


@lowering.register(Step)
def _step(op, b, node, ins, outs):
    ge = b.node("GreaterOrEqual", [ins[0], b.scalar(0.0, node.in_types[0].dtype, "zero")],
                name=f"{node.name}.ge")[0]
    b.node("Cast", [ge], outs, name=node.name, to=_onnx_dtype(node.out_types[0].dtype))


@lowering.register(PReLU)
def _prelu(op, b, node, ins, outs):
    w = b.param(node, "weight")
    rank = node.in_types[0].rank
    if op.num_parameters != 1 and rank > 2:   # broadcast [C] over [N, C, *spatial]
        w = b.node("Reshape", [w, b.ints([op.num_parameters] + [1] * (rank - 2))],
                   name=f"{node.name}.slope")[0]
    b.node("PRelu", [ins[0], w], outs, name=node.name)


@lowering.register(Softmax)
def _softmax(op, b, node, ins, outs):
    b.node(op.onnx_type, ins, outs, name=node.name, axis=op.axis)


@lowering.register(Maxout)
def _maxout(op, b, node, ins, outs):
    from .lowering import shape_tensor
    pieces = b.node("Reshape", [ins[0], shape_tensor(b, node, ins, op._plan(node))],
                    name=f"{node.name}.pieces")[0]
    b.node("ReduceMax", [pieces, b.ints([-1])], outs, name=node.name, keepdims=0)
