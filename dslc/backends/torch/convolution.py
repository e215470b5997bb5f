"""The torch lowerings of the convolution ops (dslc/ops/convolution.py)."""
from __future__ import annotations

from ...ops.convolution import _Conv, _ConvTranspose
from .table import lowering


@lowering.register(_Conv)
def _conv(op, node):
    from .modules import ConvNd
    x = node.in_types[0]
    ks, ss, ds, ps = op.geometry(x)
    return ConvNd(op.n, x.shape[1].value, op.out_channels, ks, ss, ds, op.groups,
                  op.bias, ps, op.padding_mode)


@lowering.register(_ConvTranspose)
def _conv_transpose(op, node):
    from torch import nn
    ks, ss, ds, ps, ops = op.geometry()
    if any(p[0] != p[1] for p in ps):
        from ...ops.base import Unsupported
        raise Unsupported("torch's transposed convolution takes symmetric padding only")
    return getattr(nn, f"ConvTranspose{op.n}d")(
        node.in_types[0].shape[1].value, op.out_channels, ks, ss, tuple(p[0] for p in ps),
        ops, op.groups, op.bias, ds)
