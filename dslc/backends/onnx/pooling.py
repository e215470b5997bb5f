"""The onnx lowerings of the pooling ops (dslc/ops/pooling.py)."""
from __future__ import annotations

from ...ops.pooling import _Adaptive, _Global, _Pool
from ...ops.window import dilated
from .table import lowering
from functools import singledispatch


@singledispatch
def onnx_ends(op, *args):
    raise NotImplementedError(f"{type(op).__name__} has no onnx_ends")


@onnx_ends.register(_Pool)
def _pool_onnx_ends(op, node, ks, ss, ds, ps) -> list[int]:
    """The end pads under which ONNX gives the IR's (torch's) sizes. With ceil_mode, ONNX
    keeps a last window that starts in the right padding where torch drops it (pytorch
    #131272, onnxruntime #15446): on such an axis the end pad loses what ceil would round
    up (span % stride), so ceil gives the floor size; a negative end crops input that no
    window reads."""
    begins = [p for p, _ in ps]
    if not op.ceil_mode:
        return begins
    ends = []
    for z, o, p, k, s, d in zip(node.in_types[0].shape[2:], node.out_types[0].shape[2:],
                                begins, ks, ss, ds):
        span = z + 2 * p - dilated(k, d)   # window.out_size keeps ceil's size if symbolic
        drops = span.is_const() and o.value != -(-span.value // s) + 1
        ends.append(p - span.value % s if drops else p)
    return ends


@lowering.register(_Pool)
def _pool(op, b, node, ins, outs):
    n, ks, ss, ds, ps = op.geometry(node.in_types[0])
    begins, ends, src = [p for p, _ in ps], onnx_ends(op, node, ks, ss, ds, ps), ins[0]
    if min(ends) < 0:       # Pad crops with negative pads; a pool's pads must be >= 0
        crop = [0] * (n + 4) + [min(e, 0) for e in ends]
        src = b.node("Pad", [src, b.ints(crop, "pads")], name=f"{node.name}.crop")[0]
        ends = [max(e, 0) for e in ends]
    attrs = dict(kernel_shape=list(ks), strides=list(ss), ceil_mode=int(op.ceil_mode),
                 pads=begins + ends)
    if op.torch_name == "MaxPool":
        attrs["dilations"] = list(ds)
    else:
        attrs["count_include_pad"] = int(op.count_include_pad)
    b.node(op.onnx_type, [src], outs, name=node.name, **attrs)


@lowering.register(_Adaptive)
def _adaptive(op, b, node, ins, outs):
    from .lowering import adaptive_pool
    adaptive_pool(b, node, ins[0], outs[0], op.reduce)


@lowering.register(_Global)
def _global(op, b, node, ins, outs):
    b.node("GlobalAveragePool" if op.reduce == "mean" else "GlobalMaxPool", ins, outs,
           name=node.name)
