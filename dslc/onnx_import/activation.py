"""Activations and elementwise functions: one ONNX operator each (Relu, Tanh, Exp, ...), those
with attributes (LeakyRelu, Elu, Gelu, Softmax; HardSigmoid, torch's constants or the mul,
add and hardtanh(0, 1) of others; Selu with other constants an elu times gamma), Clip with
constant bounds (relu6 for [0, 6], hardtanh; clamp where a bound is missing or an integer, or
the bounds are named as dslc names clamp's), Sigmoid followed by a Mul with its input (silu),
PRelu with constant slopes, GreaterOrEqual(x, 0) -> Cast (step), dslc's softplus (Mul,
Softplus, Div, Greater, Where) and ONNX's plain Softplus (softplus)."""
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
        # gamma * (x > 0 ? x : alpha * (exp(x) - 1)): an elu of its alpha, scaled
        out = node.output[0]
        return [_layer(node, "elu", {"alpha": f32(a.get("alpha", SELU[0]))}, out=f"{out}.elu"),
                Layer("mul", [f"{out}.elu"], [out], None,
                      kwargs={"scalar": f32(a.get("gamma", SELU[1]))}, infix="*")], []
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
        approx = a.get("approximate", "none")
        return _layer(node, "gelu", {} if approx == "none" else {"approximate": approx}), []
    if t == "HardSigmoid":
        alpha, beta = f32(a.get("alpha", 0.2)), f32(a.get("beta", 0.5))
        if abs(alpha - 1 / 6) <= 1e-6 and beta == 0.5:       # torch's
            return _layer(node, "hardsigmoid"), []
        # max(0, min(1, alpha * x + beta)) with any other constants
        out = node.output[0]
        return [Layer("mul", [node.input[0]], [f"{out}.ax"], None, kwargs={"scalar": alpha},
                      infix="*"),
                Layer("add", [f"{out}.ax"], [f"{out}.axb"], None, kwargs={"scalar": beta},
                      infix="+"),
                Layer("hardtanh", [f"{out}.axb"], [out], layer_name(node, None),
                      kwargs={"min_val": 0.0})], []
    axis = a.get("axis", -1)
    kind = "softmax" if t == "Softmax" else "log_softmax"
    return _layer(node, kind, {} if axis == -1 else {"axis": axis}), []


def clip(g, node):
    names = [i for i in node.input[1:3]]
    bounds = [scalar_of(g.const(i)) if i else None for i in names]
    if any(i and b is None for i, b in zip(names, bounds)):
        raise fail(node, "its bounds are not constant numbers")
    integer = any(i and g.const(i).dtype.kind in "iu" for i in names)
    if len(bounds) < 2 or None in bounds or integer or \
            any(i.endswith((".min", ".max")) for i in names if i):
        # clamp: dslc names its bounds `<layer>.min`, `<layer>.max`; one may be absent
        kw = {k: (int(v) if integer else f32(v)) for k, v in zip(("min", "max"), bounds)
              if v is not None}
        if not kw:
            raise fail(node, "a Clip without bounds has no dslc form")
        return _layer(node, "clamp", kw), []
    lo, hi = f32(bounds[0]), f32(bounds[1])
    if (lo, hi) == (0.0, 6.0):
        return _layer(node, "relu6"), []
    kw = {k: v for k, v, d in (("min_val", lo, -1.0), ("max_val", hi, 1.0)) if v != d}
    return _layer(node, "hardtanh", kw), []


def step(g, node):
    """GreaterOrEqual(x, 0) -> Cast to a number: step (dslc's Heaviside)."""
    cast = g.sole_consumer(node.output[0])
    if scalar_of(g.const(node.input[1])) != 0 or g.const(node.input[0]) is not None or \
            cast is None or cast.op_type != "Cast" or attrs(cast).get("to") == 9:
        return None
    return Layer("step", [node.input[0]], [cast.output[0]], layer_name(cast, None)), [cast]


def prelu(g, node):
    """PRelu with a constant slope vector (per channel: Reshaped to [C, 1, ...])."""
    w, wname = g.const(node.input[1]), node.input[1]
    shaper = g.producer.get(wname)
    if w is None and shaper is not None and shaper.op_type == "Reshape":
        wname = shaper.input[0]
        w = g.const(wname)
    if w is None or w.ndim != 1 and w.size != 1:
        raise fail(node, "its slope is not a constant vector")
    w = w.reshape(-1)
    return Layer("prelu", [node.input[0]], [node.output[0]], layer_name(node, wname),
                 args=(int(w.size),) if w.size != 1 else (), weights={"weight": w}), []


def softplus(g, node):
    """Mul(x, beta) -> Softplus -> Div(beta), Greater(beta x, threshold), Where(big, x, soft)."""
    x, c = node.input
    beta = scalar_of(g.const(c))
    users = {u.op_type: u for u in g.consumers.get(node.output[0], [])}
    if beta is None or g.const(x) is not None or set(users) != {"Softplus", "Greater"}:
        return None
    div, big = g.sole_consumer(users["Softplus"].output[0]), users["Greater"]
    threshold = scalar_of(g.const(big.input[1]))
    where = div is not None and div.op_type == "Div" and g.sole_consumer(div.output[0])
    if not where or where.op_type != "Where" or threshold is None or \
            list(where.input) != [big.output[0], x, div.output[0]]:
        return None
    kw = {k: f32(v) for k, v, d in (("beta", beta, 1.0), ("threshold", threshold, 20.0))
          if f32(v) != d}
    return Layer("softplus", [x], [where.output[0]], layer_name(where, None), kwargs=kw), \
        [users["Softplus"], div, big, where]


def plain_softplus(g, node):
    """ONNX's Softplus, log(1 + exp(x)): torch's softplus (beta 1), whose threshold (x above
    20 passes through) differs from it by less than exp(-20), below f32's resolution there."""
    return _layer(node, "softplus"), []


PATTERNS = {"GreaterOrEqual": [step], "Mul": [softplus]}
MATCHERS = {**{t: unary for t in UNARY}, "Clip": clip, "PRelu": prelu, "Softplus": plain_softplus,
            **{t: with_attrs for t in ("LeakyRelu", "Elu", "Gelu", "HardSigmoid", "Softmax",
                                       "LogSoftmax")}}
