"""torch-src entries of the convolutions (dslc/ops/convolution.py)."""
from __future__ import annotations

from ...ops.base import Unsupported
from ...ops.convolution import _Conv, _ConvTranspose
from .code import call, lit
from .linear import normed, tied_weight
from .runtime import flat_pads
from .table import source

def _padded(op, c, ks, ss, ds, ps) -> tuple[str, dict]:
    """The input (F.pad'ded where torch's own padding cannot say it: asymmetric, or `same` from
    the run-time size) and nn.ConvNd's padding keywords."""
    x, mode = c.ins[0], {"zeros": "constant"}.get(op.padding_mode, op.padding_mode)
    if None in ps:
        c.helper("same_pads")
        pads = f"same_pads({x}, {lit(list(ks))}, {lit(list(ss))}, {lit(list(ds))})"
        return f"F.pad({x}, {pads}, mode={mode!r})", {}
    if any(b != e for b, e in ps):
        return f"F.pad({x}, {lit(flat_pads(ps))}, mode={mode!r})", {}
    kw = {"padding": [b for b, _ in ps]} if any(b for b, _ in ps) else {}
    if kw and mode != "constant":
        kw["padding_mode"] = mode
    return x, kw


@source.register(_Conv)
def _conv(op, c):
    """nn.Conv{n}d with torch's own padding where it is symmetric, else F.pad first; a tied
    convolution is F.conv{n}d on its owner's weight."""
    x_type = c.node.in_types[0]
    ks, ss, ds, ps = op.geometry(x_type)
    x, kw = _padded(op, c, ks, ss, ds, ps)
    if c.tied:
        if "padding_mode" in kw:
            raise Unsupported("a tied convolution with a padding mode has no source form")
        c.own_params()
        bias = c.param("bias") if op.bias else "None"
        return c.set(f"F.conv{op.n}d({x}, {tied_weight(op, c)}, {bias}, {lit(list(ss))}, "
                     f"{lit(kw.get('padding', [0] * op.n))}, {lit(list(ds))}, {op.groups})")
    kw.update({k: list(v) for k, v in (("stride", ss), ("dilation", ds)) if any(s != 1 for s in v)})
    if op.groups != 1:
        kw["groups"] = op.groups
    if not op.bias:
        kw["bias"] = False
    c.module(normed(op, c, call(f"nn.Conv{op.n}d", x_type.shape[1].value, op.out_channels,
                                lit(list(ks)), **kw)), x)


@source.register(_ConvTranspose)
def _conv_transpose(op, c):
    ks, ss, ds, ps, ops = op.geometry()
    c_in = c.node.in_types[0].shape[1].value
    # unequal pads: the unpadded result, cropped; weight_norm's pre-hook takes the one input
    # that CroppedConvTranspose's forward takes, not nn.ConvTransposeNd's output_size too
    if any(b != e for b, e in ps) or op.weight_norm:
        c.helper("CroppedConvTranspose")
        return c.module(normed(op, c, call(
            "CroppedConvTranspose", op.n, c_in, op.out_channels, lit(list(ks)), lit(list(ss)),
            lit(list(ds)), lit([list(p) for p in ps]), lit(list(ops)), op.groups, op.bias)))
    kw = {"stride": list(ss), "padding": [b for b, _ in ps], "output_padding": list(ops),
          "dilation": list(ds)}
    if op.groups != 1:
        kw["groups"] = op.groups
    if not op.bias:
        kw["bias"] = False
    c.module(call(f"nn.ConvTranspose{op.n}d", c_in, op.out_channels, lit(list(ks)), **kw))
