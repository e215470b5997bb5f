"""torch-src entries of upsample, pad and channel_shuffle (dslc/ops/resample.py)."""
from __future__ import annotations

from ...ops.resample import ChannelShuffle, Pad, Upsample, _ONNX_PAD_MODE
from .code import call, lit
from .runtime import flat_pads
from .table import source


@source.register(Upsample)
def _upsample(op, c):
    if op.size is not None:
        kw = {"size": [d.value for d in c.node.out_types[0].shape[2:]]}
    elif isinstance(op.scale_factor, tuple):
        kw = {"scale_factor": [float(s) for s in op.scale_factor]}
    else:
        kw = {"scale_factor": float(op.scale_factor)}
    kw["mode"] = op.mode
    if op.mode != "nearest":
        kw["align_corners"] = op.align_corners
    c.set(call("F.interpolate", c.ins[0], **kw))


@source.register(Pad)
def _pad(op, c):
    mode = _ONNX_PAD_MODE[op.mode].replace("edge", "replicate").replace("wrap", "circular")
    pads = lit(flat_pads(op.amounts(c.node.in_types[0])))
    c.set(call("F.pad", c.ins[0], pads, mode=mode,
               **({"value": float(op.value)} if mode == "constant" else {})))


@source.register(ChannelShuffle)
def _channel_shuffle(op, c):
    c.set(call("F.channel_shuffle", c.ins[0], op.groups))
