"""The onnx lowerings of the normalization ops (dslc/ops/normalization.py)."""
from __future__ import annotations

from ...ops.normalization import Dropout, LayerNorm, _BatchNorm
from .table import lowering


@lowering.register(_BatchNorm)
def _batch_norm(op, b, node, ins, outs):
    import numpy as np

    from .builder import np_dtype
    n, x = node.name, node.in_types[0]
    c = x.shape[1].value
    dt = np_dtype(node.param_dtype)
    w, bias = ((b.param(node, "weight"), b.param(node, "bias")) if op.affine
               else (b.const(np.ones(c, dt), "ones"), b.const(np.zeros(c, dt), "zeros")))
    if op.track_running_stats:
        mean, var = b.param(node, "running_mean"), b.param(node, "running_var")
    else:
        # Without running statistics torch normalises by the batch's own statistics even
        # in eval(): the mean and the biased variance over every axis but the channels,
        # fed to the inference-mode operator in place of running ones.
        axes = b.ints([0] + list(range(2, x.rank)))
        kept = b.node("ReduceMean", [ins[0], axes], name=f"{n}.mean", keepdims=1)[0]
        dev = b.node("Sub", [ins[0], kept], name=f"{n}.dev")[0]
        sq = b.node("Mul", [dev, dev], name=f"{n}.sq")[0]
        var = b.node("ReduceMean", [sq, axes], name=f"{n}.var", keepdims=0)[0]
        mean = b.node("Squeeze", [kept, axes], name=f"{n}.mean")[0]
    b.node("BatchNormalization", [ins[0], w, bias, mean, var], outs, name=n, epsilon=op.eps)


@lowering.register(LayerNorm)
def _layer_norm(op, b, node, ins, outs):
    import numpy as np

    from .builder import np_dtype
    ns = op.dims(node.in_types[0])
    p = op.params(node.in_types[0])
    w = b.param(node, "weight") if "weight" in p else \
        b.const(np.ones(ns, np_dtype(node.param_dtype)), "ones")
    inputs = [ins[0], w] + ([b.param(node, "bias")] if "bias" in p else [])
    b.node("LayerNormalization", inputs, outs, name=node.name, axis=-len(ns), epsilon=op.eps)


@lowering.register(Dropout)
def _dropout(op, b, node, ins, outs):
    b.node("Identity", ins, outs, name=node.name)
