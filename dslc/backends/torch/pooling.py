"""The torch lowerings of the pooling ops (dslc/ops/pooling.py)."""
from __future__ import annotations

from ...ops.pooling import _Adaptive, _Global, _Pool
from .table import lowering


@lowering.register(_Pool)
def _pool(op, node):
    from torch import nn
    n, ks, ss, ds, ps = op.geometry(node.in_types[0])
    pool = getattr(nn, f"{op.torch_name}{n}d")
    extra = {"dilation": ds} if op.torch_name == "MaxPool" else \
        {"count_include_pad": op.count_include_pad}
    return pool(ks, ss, tuple(p for p, _ in ps), ceil_mode=op.ceil_mode, **extra)


@lowering.register(_Adaptive)
def _adaptive(op, node):
    from torch import nn
    n = node.in_types[0].rank - 2
    name = "AdaptiveAvgPool" if op.reduce == "mean" else "AdaptiveMaxPool"
    return getattr(nn, f"{name}{n}d")(tuple(d.value for d in node.out_types[0].shape[2:]))


@lowering.register(_Global)
def _global(op, node):
    from .modules import GlobalPool
    return GlobalPool(op.reduce)
