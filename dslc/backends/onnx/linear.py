"""The onnx lowerings of the linear ops (dslc/ops/linear.py), and weight norm (theirs and the
convolutions')."""
from __future__ import annotations

from ...ops.linear import WEIGHT_G, WEIGHT_V, Dense
from .table import lowering


def weight(op, b, node) -> str:
    """The layer's weight: its initializer, or with weight_norm v * (g / ||v||), the norm over
    every dim but 0 (torch._weight_norm's order of operations)."""
    if not op.weight_norm:
        return b.param(node, "weight")
    v, g = b.param(node, WEIGHT_V), b.param(node, WEIGHT_G)
    rank = len(op.params(*node.in_types)[WEIGHT_V])
    name = f"{node.name}.weight_norm"
    norm = b.node("ReduceL2", [v, b.ints(list(range(1, rank)), "axes")], name=name, keepdims=1)
    scale = b.node("Div", [g, norm[0]], name=name)
    return b.node("Mul", [v, scale[0]], name=name)[0]


@lowering.register(Dense)
def _dense(op, b, node, ins, outs):
    w = weight(op, b, node)
    bias = [b.param(node, "bias")] if op.bias else []
    if node.in_types[0].rank == 2:
        b.node("Gemm", [ins[0], w] + bias, outs, name=node.name, transB=int(not op.transpose))
        return
    wt = [w] if op.transpose else \
        b.node("Transpose", [w], name=f"{node.name}.weight_t", perm=[1, 0])
    if not op.bias:
        b.node("MatMul", [ins[0], wt[0]], outs, name=node.name)
        return
    mm = b.node("MatMul", [ins[0], wt[0]], name=f"{node.name}.matmul")
    b.node("Add", [mm[0], bias[0]], outs, name=node.name)
