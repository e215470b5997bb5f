"""The onnx lowerings of the normalization ops (dslc/ops/normalization.py)."""
from __future__ import annotations

from ...ops.normalization import Dropout, DropPath, GroupNorm, InstanceNorm, LayerNorm, _BatchNorm
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


def _normalise(b, node, x: str, axes: list[int], eps: float, part: str) -> str:
    """(x - mean) / sqrt(var + eps), mean and the biased variance over `axes` (kept)."""
    n, dt = f"{node.name}.{part}", node.in_types[0].dtype
    mean = b.node("ReduceMean", [x, b.ints(axes, f"{n}.axes")], name=f"{n}.mean", keepdims=1)[0]
    d = b.node("Sub", [x, mean], name=f"{n}.centred")[0]
    var = b.node("ReduceMean", [b.node("Mul", [d, d], name=f"{n}.square")[0],
                                b.ints(axes, f"{n}.axes")], name=f"{n}.var", keepdims=1)[0]
    std = b.node("Sqrt", [b.node("Add", [var, b.scalar(eps, dt, f"{n}.eps")],
                                 name=f"{n}.var_eps")[0]], name=f"{n}.std")[0]
    return b.node("Div", [d, std], name=f"{n}.div")[0]


def _affine(b, node, y: str, axis: int, outs) -> None:
    """y * weight + bias, the [C] parameters laid along `axis` of the node's input (and y
    itself when the op has none)."""
    p = node.op.params(node.in_types[0])
    if not p:
        b.node("Identity", [y], outs, name=node.name)
        return
    trailing = node.in_types[0].rank - 1 - axis

    def along(t: str) -> str:
        return b.node("Reshape", [t, b.ints([-1] + [1] * trailing, f"{node.name}.along")],
                      name=f"{node.name}.{t.rsplit('.', 1)[-1]}_along")[0]
    if "bias" not in p:
        b.node("Mul", [y, along(b.param(node, "weight"))], outs, name=node.name)
        return
    scaled = b.node("Mul", [y, along(b.param(node, "weight"))], name=f"{node.name}.scale")[0]
    b.node("Add", [scaled, along(b.param(node, "bias"))], outs, name=node.name)


@lowering.register(GroupNorm)
def _group_norm(op, b, node, ins, outs):
    """[N, C, *] as [N, G, C/G * positions], normalised per group, reshaped back."""
    grouped = b.node("Reshape", [ins[0], b.ints([0, op.num_groups, -1], f"{node.name}.groups")],
                     name=f"{node.name}.grouped")[0]
    y = _normalise(b, node, grouped, [2], op.eps, "norm")
    shape = b.node("Shape", [ins[0]], name=f"{node.name}.shape")[0]
    y = b.node("Reshape", [y, shape], name=f"{node.name}.ungrouped")[0]
    _affine(b, node, y, 1, outs)


@lowering.register(InstanceNorm)
def _instance_norm(op, b, node, ins, outs):
    y = _normalise(b, node, ins[0], list(range(2, node.in_types[0].rank)), op.eps, "norm")
    _affine(b, node, y, 1, outs)


@lowering.register(DropPath)
def _drop_path(op, b, node, ins, outs):
    b.node("Identity", ins, outs, name=node.name)


@lowering.register(LayerNorm)
def _layer_norm(op, b, node, ins, outs):
    import numpy as np

    from .builder import np_dtype
    x = node.in_types[0]
    if not op.over_last(x):            # one axis inside (channels first): no ONNX operator
        axis = op.channel_axis(x)
        _affine(b, node, _normalise(b, node, ins[0], [axis], op.eps, "norm"), axis, outs)
        return
    ns = op.dims(node.in_types[0])
    p = op.params(node.in_types[0])
    w = b.param(node, "weight") if "weight" in p else \
        b.const(np.ones(ns, np_dtype(node.param_dtype)), "ones")
    inputs = [ins[0], w] + ([b.param(node, "bias")] if "bias" in p else [])
    b.node("LayerNormalization", inputs, outs, name=node.name, axis=-len(ns), epsilon=op.eps)


@lowering.register(Dropout)
def _dropout(op, b, node, ins, outs):
    """ONNX Dropout with its ratio and no training_mode: the identity at inference, the rate
    kept in the graph (dslc import reads it back)."""
    b.node("Dropout", [ins[0], b.scalar(op.p, "f32", f"{node.name}.ratio")], outs, name=node.name)
