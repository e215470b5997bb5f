"""The onnx lowerings of the linalg ops (dslc/ops/linalg.py)."""
from __future__ import annotations

from ...ops.linalg import Einsum, MatMul, _ELLIPSIS
from .table import lowering


@lowering.register(MatMul)
def _mat_mul(op, b, node, ins, outs):
    b.node("MatMul", ins, outs, name=node.name)       # numpy.matmul semantics, 1-D included


@lowering.register(Einsum)
def _einsum(op, b, node, ins, outs):
    terms, _, _, ell, ell_axes = op.analyse(*node.in_types)
    ins = list(ins)
    # onnxruntime wants every `...` to cover the same number of axes: pad with 1s.
    for k, (t, mine) in enumerate(zip(terms, ell_axes)):
        if mine is not None and len(mine) < len(ell):
            at = t.index(_ELLIPSIS)
            pad = list(range(at, at + len(ell) - len(mine)))
            ins[k] = b.node("Unsqueeze", [ins[k], b.ints(pad)], name=f"{node.name}.pad")[0]
    b.node("Einsum", ins, outs, name=node.name, equation=op.explicit(*node.in_types))
