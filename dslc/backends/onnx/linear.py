"""The onnx lowerings of the linear ops (dslc/ops/linear.py)."""
from __future__ import annotations

from ...ops.linear import Dense
from .table import lowering


@lowering.register(Dense)
def _dense(op, b, node, ins, outs):
    w = b.param(node, "weight")
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
