"""The torch lowerings of the resample ops (dslc/ops/resample.py)."""
from __future__ import annotations

from ...ops.resample import ChannelShuffle, Pad, Upsample, _ONNX_PAD_MODE
from .table import lowering


@lowering.register(Upsample)
def _upsample(op, node):
    from torch import nn
    sizes = tuple(d.value for d in node.out_types[0].shape[2:]) if op.size is not None else None
    return nn.Upsample(size=sizes, scale_factor=None if sizes else op.scale_factor,
                       mode=op.mode, align_corners=None if op.mode == "nearest" else op.align_corners)


@lowering.register(Pad)
def _pad(op, node):
    from .modules import PadModule
    return PadModule(op.amounts(node.in_types[0]), _ONNX_PAD_MODE[op.mode]
                     .replace("edge", "replicate").replace("wrap", "circular"), op.value)


@lowering.register(ChannelShuffle)
def _channel_shuffle(op, node):
    from torch import nn
    return nn.ChannelShuffle(op.groups)
