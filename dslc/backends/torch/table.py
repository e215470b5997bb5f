"""The torch lowering table: one entry per op class, registered in the backend module of the op's
family (`@lowering.register(Conv)` in backends/torch/convolution.py) and found through the class's
MRO, so a variant (conv2d of the convolutions) takes its family's entry. An entry
`fn(op, node)` returns an nn.Module taking the node's inputs as positional tensors, its own
parameters named as the op's `params` says, or
raises Unsupported (an E401 at the spec line)."""
from __future__ import annotations

from functools import singledispatch

from ...ops.base import Unsupported
from .. import entry_in, load_lowerings


@singledispatch
def lowering(op, node):
    raise Unsupported(f"{op.kind} has no torch lowering")


def load() -> None:
    load_lowerings(__package__)


def entry(op_cls):
    """The lowering `op_cls` takes (its own or an ancestor's), or None."""
    load()
    return entry_in(lowering, op_cls)


def lower(op, node):
    load()
    return lowering(op, node)
