"""Activations and elementwise functions: one ONNX operator each (Relu, Tanh, Exp, ...), those
with attributes (LeakyRelu, Elu, Gelu, Softmax, HardSigmoid with torch's constants), Clip with
constant bounds (relu6 for [0, 6], else hardtanh) and Sigmoid followed by a Mul with its input
(silu)."""
from __future__ import annotations

import numpy as np

from .graph import Layer, attrs, fail, layer_name, scalar_of

UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Selu": "selu", "Exp": "exp",
         "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Neg": "neg", "Sin": "sin", "Cos": "cos",
         "Erf": "erf", "Sign": "sign", "Floor": "floor", "Round": "round",
         "Reciprocal": "reciprocal", "Softsign": "softsign", "Mish": "mish",
         "HardSwish": "hardswish", "Not": "logical_not"}
SELU = (1.6732632423543772, 1.0507009873554805)      # torch's (and ONNX's default) constants


def f32(v) -> float:
    return float(np.float32(v))


def _layer(node, kind, kwargs=None, out=None):
    return Layer(kind, [node.input[0]], [out or node.output[0]], layer_name(node, None),
                 kwargs=kwargs or {})


def unary(g, node):
    a = attrs(node)
    if node.op_type == "Selu" and (abs(a.get("alpha", SELU[0]) - SELU[0]) > 1e-6 or
                                   abs(a.get("gamma", SELU[1]) - SELU[1]) > 1e-6):
        raise fail(node, "selu has torch's fixed alpha and gamma only")
    if node.op_type == "Sigmoid":
        mul = g.sole_consumer(node.output[0])
        if mul is not None and mul.op_type == "Mul" and set(mul.input) == {node.input[0], node.output[0]}:
            layer = _layer(node, "silu", out=mul.output[0])
            layer.name = layer_name(mul, None)
            return layer, [mul]
    return _layer(node, UNARY[node.op_type]), []


def with_attrs(g, node):
    a = attrs(node)
    t = node.op_type
    if t == "LeakyRelu":
        slope = f32(a.get("alpha", 0.01))
        return _layer(node, "leaky_relu", {} if slope == f32(0.01) else {"negative_slope": slope}), []
    if t == "Elu":
        alpha = f32(a.get("alpha", 1.0))
        return _layer(node, "elu", {} if alpha == 1.0 else {"alpha": alpha}), []
    if t == "Gelu":
        approx = a.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else approx
        return _layer(node, "gelu", {} if approx == "none" else {"approximate": approx}), []
    if t == "HardSigmoid":
        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            raise fail(node, "dslc's hardsigmoid is torch's: alpha 1/6, beta 0.5")
        return _layer(node, "hardsigmoid"), []
    axis = a.get("axis", -1)
    kind = "softmax" if t == "Softmax" else "log_softmax"
    return _layer(node, kind, {} if axis == -1 else {"axis": axis}), []


def clip(g, node):
    bounds = [scalar_of(g.const(i)) if len(node.input) > k and i else None
              for k, i in enumerate(node.input[1:3], start=1)]
    if len(bounds) < 2 or None in bounds:
        raise fail(node, "only a Clip with constant min and max is relu6 or hardtanh")
    lo, hi = f32(bounds[0]), f32(bounds[1])
    if (lo, hi) == (0.0, 6.0):
        return _layer(node, "relu6"), []
    kw = {k: v for k, v, d in (("min_val", lo, -1.0), ("max_val", hi, 1.0)) if v != d}
    return _layer(node, "hardtanh", kw), []


MATCHERS = {**{t: unary for t in UNARY}, "Clip": clip,
            **{t: with_attrs for t in ("LeakyRelu", "Elu", "Gelu", "HardSigmoid", "Softmax",
                                       "LogSoftmax")}}
