"""The onnx lowerings of the convolution ops (dslc/ops/convolution.py)."""
from __future__ import annotations

from ...ops.convolution import _Conv, _ConvTranspose
from ...ops.window import dilated
from .linear import weight
from .table import lowering


def _run_time_pads(b, node, x: str, ks, ss, ds, ps) -> str:
    """ONNX Pad's [0, 0, begins.., 0, 0, ends..]; where window.pads left None (`same`, stride
    > 1, symbolic size) torch's rule on the run-time size S: out = ceil(S/s), total =
    max((out - 1)*s + d*(k-1) + 1 - S, 0), the odd element at the end."""
    def op(kind, *xs):
        return b.node(kind, list(xs), name=f"{node.name}.same")[0]

    begins, ends = [b.ints([0, 0], "pads")], [b.ints([0, 0], "pads")]
    for axis, (p, k, s, d) in enumerate(zip(ps, ks, ss, ds), start=2):
        if p is not None:
            begins.append(b.ints([p[0]], "pads"))
            ends.append(b.ints([p[1]], "pads"))
            continue
        size = b.node("Shape", [x], name=f"{node.name}.size", start=axis, end=axis + 1)[0]
        out = op("Div", op("Add", size, b.ints([s - 1])), b.ints([s]))
        need = op("Sub", op("Add", op("Mul", out, b.ints([s])), b.ints([dilated(k, d) - s])), size)
        total = op("Max", need, b.ints([0]))
        half = op("Div", total, b.ints([2]))
        begins.append(half)
        ends.append(op("Sub", total, half))
    return b.node("Concat", begins + ends, name=f"{node.name}.pads", axis=0)[0]


_ONNX_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@lowering.register(_Conv)
def _conv(op, b, node, ins, outs):
    ks, ss, ds, ps = op.geometry(node.in_types[0])
    src = ins[0]
    attrs = dict(kernel_shape=list(ks), strides=list(ss), dilations=list(ds), group=op.groups)
    if None in ps and op.padding_mode == "zeros" and set(ds) == {1}:
        attrs["auto_pad"] = "SAME_UPPER"
    elif None in ps:
        # onnxruntime refuses auto_pad with dilation ("Dilation not supported for
        # AutoPadType::SAME_UPPER"), and reflect/edge/wrap need a Pad anyway.
        src = b.node("Pad", [src, _run_time_pads(b, node, src, ks, ss, ds, ps)],
                     name=f"{node.name}.pad",
                     mode=_ONNX_PAD_MODE.get(op.padding_mode, "constant"))[0]
        attrs["pads"] = [0] * (2 * op.n)
    elif op.padding_mode != "zeros" and any(p != (0, 0) for p in ps):
        full = [0, 0] + [p[0] for p in ps] + [0, 0] + [p[1] for p in ps]
        src = b.node("Pad", [src, b.ints(full, "pads")], name=f"{node.name}.pad",
                     mode=_ONNX_PAD_MODE[op.padding_mode])[0]
        attrs["pads"] = [0] * (2 * op.n)
    else:
        attrs["pads"] = [p[0] for p in ps] + [p[1] for p in ps]
    w = weight(op, b, node)
    bias = [b.param(node, "bias")] if op.bias else []
    b.node("Conv", [src, w] + bias, outs, name=node.name, **attrs)


@lowering.register(_ConvTranspose)
def _conv_transpose(op, b, node, ins, outs):
    ks, ss, ds, ps, ops = op.geometry()
    w = weight(op, b, node)
    bias = [b.param(node, "bias")] if op.bias else []
    b.node("ConvTranspose", [ins[0], w] + bias, outs, name=node.name, kernel_shape=list(ks),
           strides=list(ss), dilations=list(ds), group=op.groups,
           pads=[p[0] for p in ps] + [p[1] for p in ps], output_padding=list(ops))
