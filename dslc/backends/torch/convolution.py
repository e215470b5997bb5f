"""The torch lowerings of the convolution ops (dslc/ops/convolution.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...ops.convolution import _Conv, _ConvTranspose
from .table import lowering


@lowering.register(_Conv)
def _conv(op, node):
    from .modules import ConvNd
    x = node.in_types[0]
    ks, ss, ds, ps = op.geometry(x)
    return ConvNd(op.n, x.shape[1].value, op.out_channels, ks, ss, ds, op.groups,
                  op.bias, ps, op.padding_mode)


class CroppedConvTranspose(nn.Module):
    """A transposed convolution with (begin, end) padding per axis that may differ: torch's
    layer takes one padding per axis, so this computes the unpadded result and crops each
    axis's begin and end rows, as ONNX ConvTranspose's pads do. Its parameters are
    nn.ConvTransposeNd's (weight [in, out/groups, *k], bias [out])."""

    def __init__(self, n: int, c_in: int, c_out: int, ks, ss, ds, crops, out_pad, groups: int,
                 bias: bool):
        super().__init__()
        self.conv = getattr(F, f"conv_transpose{n}d")
        self.weight = nn.Parameter(torch.empty(c_in, c_out // groups, *ks))
        self.bias = nn.Parameter(torch.empty(c_out)) if bias else None
        self.ss, self.ds, self.out_pad, self.groups = ss, ds, out_pad, groups
        self.crops = crops

    def forward(self, x):
        y = self.conv(x, self.weight, self.bias, self.ss, 0, self.out_pad, self.groups, self.ds)
        index = [slice(None), slice(None)] + [slice(b, y.shape[2 + i] - e)
                                              for i, (b, e) in enumerate(self.crops)]
        return y[tuple(index)]


@lowering.register(_ConvTranspose)
def _conv_transpose(op, node):
    ks, ss, ds, ps, ops = op.geometry()
    c_in = node.in_types[0].shape[1].value
    if any(p[0] != p[1] for p in ps):
        return CroppedConvTranspose(op.n, c_in, op.out_channels, ks, ss, ds, ps, ops, op.groups,
                                    op.bias)
    return getattr(nn, f"ConvTranspose{op.n}d")(
        c_in, op.out_channels, ks, ss, tuple(p[0] for p in ps), ops, op.groups, op.bias, ds)
