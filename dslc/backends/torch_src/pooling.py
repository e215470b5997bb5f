"""torch-src entries of the poolings (dslc/ops/pooling.py): F.<pool> calls."""
from __future__ import annotations

from ...ops.pooling import _Adaptive, _Global, _Pool
from .code import call, lit
from .table import source


@source.register(_Pool)
def _pool(op, c):
    n, ks, ss, ds, ps = op.geometry(c.node.in_types[0])
    pads = lit([p for p, _ in ps])
    if op.torch_name == "MaxPool":
        return c.set(call(f"F.max_pool{n}d", c.ins[0], lit(list(ks)), lit(list(ss)), pads,
                          lit(list(ds)), ceil_mode=op.ceil_mode))
    c.set(call(f"F.avg_pool{n}d", c.ins[0], lit(list(ks)), lit(list(ss)), pads,
               ceil_mode=op.ceil_mode, count_include_pad=op.count_include_pad))


@source.register(_Adaptive)
def _adaptive(op, c):
    out = c.node.out_types[0]
    fn = "adaptive_avg_pool" if op.reduce == "mean" else "adaptive_max_pool"
    c.set(call(f"F.{fn}{out.rank - 2}d", c.ins[0], lit([d.value for d in out.shape[2:]])))


@source.register(_Global)
def _global(op, c):
    axes = list(range(2, c.node.in_types[0].rank))
    c.set(f"{c.ins[0]}.{'mean' if op.reduce == 'mean' else 'amax'}(dim={lit(axes)}, keepdim=True)")
