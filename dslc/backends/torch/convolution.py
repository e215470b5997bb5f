"""The torch lowerings of the convolution ops (dslc/ops/convolution.py)."""
from __future__ import annotations

from torch import nn

from ...ops.convolution import _Conv, _ConvTranspose
from ..torch_src.runtime import CroppedConvTranspose
from .linear import weight_normed
from .table import lowering


@lowering.register(_Conv)
def _conv(op, node):
    from .modules import ConvNd
    x = node.in_types[0]
    ks, ss, ds, ps = op.geometry(x)
    return weight_normed(op, ConvNd(op.n, x.shape[1].value, op.out_channels, ks, ss, ds,
                                    op.groups, op.bias, ps, op.padding_mode))


@lowering.register(_ConvTranspose)
def _conv_transpose(op, node):
    ks, ss, ds, ps, ops = op.geometry()
    c_in = node.in_types[0].shape[1].value
    if any(p[0] != p[1] for p in ps) or op.weight_norm:    # weight_norm's pre-hook takes one input
        return weight_normed(op, CroppedConvTranspose(
            op.n, c_in, op.out_channels, list(ks), list(ss), list(ds), [list(p) for p in ps],
            list(ops), op.groups, op.bias))
    return getattr(nn, f"ConvTranspose{op.n}d")(
        c_in, op.out_channels, ks, ss, tuple(p[0] for p in ps), ops, op.groups, op.bias, ds)
