"""Normalisation and inference identities: BatchNormalization with constant statistics
(batchnorm; the running statistics are its buffers), LayerNormalization (layernorm over the
last dims), Dropout and a lone Identity (dropout: the identity at inference, p lost unless a
Dropout node states its ratio), LRN (the layers that compute it)."""
from __future__ import annotations

import numpy as np

from .graph import Layer, attrs, fail, layer_name


def _eps(a: dict, kw: dict) -> None:
    eps = float(np.float32(a.get("epsilon", 1e-5)))
    if eps != float(np.float32(1e-5)):
        kw["eps"] = eps


def batchnorm(g, node):
    a = attrs(node)
    if a.get("training_mode", 0):
        raise fail(node, "a training-mode BatchNormalization has no inference form")
    arrays = [g.const(i) for i in node.input[1:5]]
    if any(x is None for x in arrays):
        raise fail(node, "its scale, bias, mean and variance are not all constants")
    scale, bias, mean, var = arrays
    kw: dict = {}
    _eps(a, kw)
    weights = {"running_mean": mean, "running_var": var}
    named = node.input[1].endswith(".weight")
    if not named and np.all(scale == 1) and np.all(bias == 0):
        kw["affine"] = False          # dslc's affine=false lowers to constant ones and zeros
    else:
        weights.update(weight=scale, bias=bias)
    name = layer_name(node, node.input[1] if named else node.input[3],
                      "weight" if named else "running_mean")
    return Layer("batchnorm", [node.input[0]], [node.output[0]], name, kwargs=kw,
                 weights=weights), []


def _param_name(value: str) -> bool:
    """Whether an initializer is named as a module's parameter (`weight`, `ln.weight`)."""
    return value == "weight" or value.endswith(".weight")


def layernorm(g, node):
    a = attrs(node)
    if any(o and g.uses(o) for o in node.output[1:]):
        raise fail(node, "its mean and inverse standard deviation outputs are used, and dslc's "
                   "layernorm has only the normalised output")
    scale = g.const(node.input[1])
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if scale is None or (len(node.input) > 2 and node.input[2] and bias is None):
        raise fail(node, "its scale and bias are not constants")
    axis = a.get("axis", -1)
    if axis >= 0 and g.ranks.get(node.input[0]) is None:
        raise fail(node, "a positive axis needs the input's rank")
    if axis >= 0:
        axis -= g.ranks[node.input[0]]
    if -axis != scale.ndim:
        raise fail(node, f"axis {a.get('axis', -1)} does not match the scale's rank {scale.ndim}")
    kw: dict = {}
    _eps(a, kw)
    weights = {}
    named = _param_name(node.input[1])
    if not named and np.all(scale == 1) and (bias is None or np.all(bias == 0)):
        # dslc's elementwise_affine=false lowers to a constant scale of ones and no bias; a
        # bias of zeros (torch's affine=False) adds nothing. A bias of other values is kept.
        kw["elementwise_affine"] = False
    else:
        weights["weight"] = scale
        if bias is not None:
            weights["bias"] = bias
        else:
            kw["bias"] = False
    args = () if scale.ndim == 1 else (tuple(scale.shape),)    # the last dim by default
    name = layer_name(node, node.input[1] if named else None)
    return Layer("layernorm", [node.input[0]], [node.output[0]], name, args=args, kwargs=kw,
                 weights=weights), []


def dropout(g, node):
    kw: dict = {}
    if node.op_type == "Dropout":
        if len(node.output) > 1 and node.output[1] and g.uses(node.output[1]):
            raise fail(node, "its mask output is read, and dslc's dropout has none")
        training = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if training is not None and (g.const(training) is None or g.const(training).any()):
            raise fail(node, "its training_mode is true or computed: it drops at inference, "
                             "and dslc's dropout is the identity there")
        ratio = g.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        p = float(np.float32(ratio.item() if ratio is not None else attrs(node).get("ratio", 0.5)))
        if p != 0.5:
            kw["p"] = p
    return Layer("dropout", [node.input[0]], [node.output[0]], layer_name(node, None), kwargs=kw), []


def lrn(g, node):
    """LRN (AlexNet's, GoogLeNet's local response normalisation across channels) as the
    layers torch's F.local_response_norm computes it with: y = x / (bias + alpha *
    avg(x^2))^beta, the average over `size` channels around each (floor((size - 1) / 2)
    before, ceil after, zeros past the ends counted): square, unsqueeze(1), a pad of the
    channel axis where the window is lopsided (an even size), avgpool3d((size, 1, 1),
    stride=1), squeeze(1), `* alpha`, `+ bias`, `** beta`, `x / d`."""
    a = attrs(node)
    size = int(a["size"])
    alpha, beta = float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75))
    bias = float(a.get("bias", 1.0))
    x, out = node.input[0], node.output[0]
    dims = g.dims.get(x)
    if dims is None or len(dims) < 3:
        raise fail(node, "an LRN needs its input's rank (N, C and at least one spatial axis)")
    if len(dims) > 4:
        raise fail(node, f"an LRN of a rank-{len(dims)} input would average over a window of "
                         f"{len(dims) - 1} axes, and dslc's pools take 3 at most")
    before, after = (size - 1) // 2, size // 2
    if len(dims) != 4 and before != after:
        raise fail(node, f"an LRN of even size {size} on a rank-{len(dims)} input: dslc pads "
                         f"the channel window unevenly only for images")
    v = [f"{out}.{part}" for part in ("sq", "planes", "padded", "pooled", "avg", "scaled",
                                      "shifted", "den")]
    pool = (size,) + (1,) * (len(dims) - 2)
    layers = [Layer("square", [x], [v[0]], None),
              Layer("unsqueeze", [v[0]], [v[1]], None, args=(1,))]
    src = v[1]
    if before != after:
        layers.append(Layer("pad", [src], [v[2]], None, args=(((before, after), (0, 0),
                                                                 (0, 0)),)))
        src = v[2]
    kw = {"stride": 1} if before != after else {"stride": 1, "padding": (before,) + (0,) *
                                                 (len(dims) - 2)}
    layers += [Layer(f"avgpool{len(pool)}d", [src], [v[3]], None, args=(pool,), kwargs=kw),
               Layer("squeeze", [v[3]], [v[4]], None, args=(1,)),
               Layer("mul", [v[4]], [v[5]], None, kwargs={"scalar": alpha}, infix="*"),
               Layer("add", [v[5]], [v[6]], None, kwargs={"scalar": bias}, infix="+"),
               Layer("pow", [v[6]], [v[7]], None, kwargs={"scalar": beta}, infix="**"),
               Layer("div", [x, v[7]], [out], layer_name(node, None), infix="/")]
    return layers, []


MATCHERS = {"BatchNormalization": batchnorm, "LayerNormalization": layernorm,
            "Dropout": dropout, "Identity": dropout, "LRN": lrn}
