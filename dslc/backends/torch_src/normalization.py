"""torch-src entries of the normalizations and dropout (dslc/ops/normalization.py)."""
from __future__ import annotations

from ...ops.normalization import Dropout, DropPath, GroupNorm, InstanceNorm, LayerNorm, _BatchNorm
from .code import call, lit
from .table import source


@source.register(_BatchNorm)
def _batch_norm(op, c):
    x = c.node.in_types[0]
    n = {2: 1, 3: 1, 4: 2, 5: 3}[x.rank]
    kw = {"eps": op.eps, "momentum": op.momentum}
    if not op.affine:
        kw["affine"] = False
    if not op.track_running_stats:
        kw["track_running_stats"] = False
    c.module(call(f"nn.BatchNorm{n}d", x.shape[1].value, **kw))


@source.register(LayerNorm)
def _layer_norm(op, c):
    x = c.node.in_types[0]
    if not op.over_last(x):
        c.helper("AxisLayerNorm")
        return c.module(call("AxisLayerNorm", op.dims(x)[0], op.channel_axis(x), x.rank, op.eps,
                             op.elementwise_affine, op.bias))
    kw = {"eps": op.eps}
    if not op.elementwise_affine:
        kw["elementwise_affine"] = False
    elif not op.bias:
        kw["bias"] = False
    c.module(call("nn.LayerNorm", lit(list(op.dims(c.node.in_types[0]))), **kw))


@source.register(Dropout)
def _dropout(op, c):
    c.set(f"F.dropout({c.ins[0]}, {lit(op.p)}, self.training)")


@source.register(GroupNorm)
def _group_norm(op, c):
    kw = {"eps": op.eps} if op.eps != 1e-5 else {}
    if not op.affine:
        kw["affine"] = False
    c.module(call("nn.GroupNorm", op.num_groups, c.node.in_types[0].shape[1].value, **kw))


@source.register(InstanceNorm)
def _instance_norm(op, c):
    x = c.node.in_types[0]
    kw = {"eps": op.eps} if op.eps != 1e-5 else {}
    if op.affine:
        kw["affine"] = True
    c.module(call(f"nn.InstanceNorm{x.rank - 2}d", x.shape[1].value, **kw))


@source.register(DropPath)
def _drop_path(op, c):
    c.helper("drop_path")
    c.set(f"drop_path({c.ins[0]}, {lit(op.p)}, self.training)")
