"""The onnx lowerings of the resample ops (dslc/ops/resample.py)."""
from __future__ import annotations

from ...ops.base import ntuple
from ...ops.resample import ChannelShuffle, Pad, Upsample, _ONNX_PAD_MODE
from .table import lowering


@lowering.register(Upsample)
def _upsample(op, b, node, ins, outs):
    import numpy as np
    n = node.in_types[0].rank - 2
    if op.size is None:
        scales = [1.0, 1.0] + [float(s) for s in ntuple(op.scale_factor, n, "scale_factor")]
        extra = ["", b.const(np.asarray(scales, np.float32), "scales")]
    else:
        head = b.node("Shape", [ins[0]], name=f"{node.name}.nc", start=0, end=2)[0]
        tail = b.ints([d.value for d in node.out_types[0].shape[2:]], "sizes")
        extra = ["", "", b.node("Concat", [head, tail], name=f"{node.name}.sizes", axis=0)[0]]
    b.node("Resize", [ins[0]] + extra, outs, name=node.name, **op._coords())


@lowering.register(Pad)
def _pad(op, b, node, ins, outs):
    ps = op.amounts(node.in_types[0])
    full = b.ints([0, 0] + [p for p, _ in ps] + [0, 0] + [p for _, p in ps], "pads")
    extra = [b.scalar(op.value, node.in_types[0].dtype, "pad_value")] if op.value else []
    b.node("Pad", [ins[0], full] + extra, outs, name=node.name, mode=_ONNX_PAD_MODE[op.mode])


@lowering.register(ChannelShuffle)
def _channel_shuffle(op, b, node, ins, outs):
    c = node.in_types[0].shape[1].value
    split = b.node("Reshape", [ins[0], b.ints([0, op.groups, c // op.groups, -1])],
                   name=f"{node.name}.split")[0]
    swapped = b.node("Transpose", [split], name=f"{node.name}.swap", perm=[0, 2, 1, 3])[0]
    shape = b.node("Shape", [ins[0]], name=f"{node.name}.shape")[0]
    b.node("Reshape", [swapped, shape], outs, name=node.name)
