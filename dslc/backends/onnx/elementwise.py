"""The onnx lowerings of the elementwise ops (dslc/ops/elementwise.py)."""
from __future__ import annotations

from ...ops.elementwise import Cast, Clamp, Hardsigmoid, Hardswish, Log1p, LogSigmoid, Mish, Rsqrt, Softsign, Square, _Function
from .table import lowering
from functools import singledispatch


@singledispatch
def formula(op, *args):
    raise NotImplementedError(f"{type(op).__name__} has no formula")


@singledispatch
def onnx_attrs(op, *args):
    raise NotImplementedError(f"{type(op).__name__} has no onnx_attrs")


def _relu6_plus3(b, node, x: str) -> str:
    """min(max(x + 3, 0), 6): the knee of hardsigmoid and hardswish."""
    n, dt = node.name, node.in_types[0].dtype
    shifted = b.node("Add", [x, b.scalar(3, dt, f"{n}.three")], name=f"{n}.add")[0]
    return b.node("Clip", [shifted, b.scalar(0, dt, f"{n}.zero"), b.scalar(6, dt, f"{n}.six")],
                  name=f"{n}.relu6")[0]


def _log1p(b, node, u: str, outs, name: str) -> list[str]:
    """Kahan's log1p on the value `u` (of the node's input dtype) into `outs`."""
    dt = node.in_types[0].dtype
    one = b.scalar(1, dt, f"{node.name}.one")
    zero = b.scalar(0, dt, f"{node.name}.zero")
    w = b.node("Add", [u, one], name=f"{name}.w")[0]                 # 1 + u, rounded
    d = b.node("Sub", [w, one], name=f"{name}.d")[0]                 # the u that w holds (exact)
    logw = b.node("Log", [w], name=f"{name}.log")[0]
    slope = b.node("Div", [logw, d], name=f"{name}.slope")[0]        # log1p(u) / u, to 1 ulp
    tiny = b.node("Equal", [d, zero], name=f"{name}.tiny")[0]        # 1 + u == 1: log1p(u) ~ u
    inf = b.node("IsInf", [w], name=f"{name}.inf", detect_negative=0)[0]
    exact = b.node("Or", [tiny, inf], name=f"{name}.exact")[0]
    # u * 1 where the slope is 0/0 or inf/inf; multiplying (not a Where on u) keeps log1p(-0) = -0
    slope = b.node("Where", [exact, one, slope], name=f"{name}.where")[0]
    return b.node("Mul", [u, slope], outs, name=name)


def _softplus_tail(b, node, x: str) -> str:
    """log1p(exp(-|x|)): softplus(x) = max(x, 0) + this, and log(sigmoid(x)) = min(x, 0) - this;
    exp(-|x|) is in (0, 1], so nothing overflows."""
    n = node.name
    mag = b.node("Abs", [x], name=f"{n}.abs")[0]
    neg = b.node("Neg", [mag], name=f"{n}.neg")[0]
    e = b.node("Exp", [neg], name=f"{n}.exp")[0]
    return _log1p(b, node, e, None, f"{n}.log1p")[0]


@lowering.register(_Function)
def _function(op, b, node, ins, outs):
    if node.in_types[0].dtype in op.formula_dtypes:
        formula(op, b, node, ins[0], outs)
    else:
        b.node(op.onnx_type, ins, outs, name=node.name, **onnx_attrs(op))


@onnx_attrs.register(_Function)
def _function_onnx_attrs(op) -> dict:
    return {}


@formula.register(_Function)
def _function_formula(op, b, node, x: str, outs) -> None:
    raise NotImplementedError


@lowering.register(Log1p)
def _log1p_op(op, b, node, ins, outs):
    _log1p(b, node, ins[0], outs, node.name)


@lowering.register(Rsqrt)
def _rsqrt(op, b, node, ins, outs):
    root = b.node("Sqrt", ins, name=f"{node.name}.sqrt")[0]
    b.node("Reciprocal", [root], outs, name=node.name)


@lowering.register(Square)
def _square(op, b, node, ins, outs):
    b.node("Mul", [ins[0], ins[0]], outs, name=node.name)


@formula.register(Softsign)
def _softsign_formula(op, b, node, x, outs):
    n = node.name
    mag = b.node("Abs", [x], name=f"{n}.abs")[0]
    one = b.scalar(1, node.in_types[0].dtype, f"{n}.one")
    den = b.node("Add", [mag, one], name=f"{n}.den")[0]
    b.node("Div", [x, den], outs, name=n)


@lowering.register(LogSigmoid)
def _log_sigmoid(op, b, node, ins, outs):
    n, dt = node.name, node.in_types[0].dtype
    soft = _softplus_tail(b, node, ins[0])                       # log1p(exp(-|x|))
    low = b.node("Min", [ins[0], b.scalar(0, dt, f"{n}.zero")], name=f"{n}.min")[0]
    b.node("Sub", [low, soft], outs, name=n)


@formula.register(Mish)
def _mish_formula(op, b, node, x, outs):
    n = node.name
    zero = b.scalar(0, node.in_types[0].dtype, f"{n}.zero")
    pos = b.node("Max", [x, zero], name=f"{n}.max")[0]
    soft = b.node("Add", [pos, _softplus_tail(b, node, x)], name=f"{n}.softplus")[0]
    t = b.node("Tanh", [soft], name=f"{n}.tanh")[0]
    b.node("Mul", [x, t], outs, name=n)


@formula.register(Hardswish)
def _hardswish_formula(op, b, node, x, outs):
    gate = _relu6_plus3(b, node, x)
    prod = b.node("Mul", [x, gate], name=f"{node.name}.mul")[0]
    b.node("Div", [prod, b.scalar(6, node.in_types[0].dtype, f"{node.name}.six")], outs,
           name=node.name)


@onnx_attrs.register(Hardsigmoid)
def _hardsigmoid_onnx_attrs(op):
    return {"alpha": 1.0 / 6.0, "beta": 0.5}


@formula.register(Hardsigmoid)
def _hardsigmoid_formula(op, b, node, x, outs):
    gate = _relu6_plus3(b, node, x)
    b.node("Div", [gate, b.scalar(6, node.in_types[0].dtype, f"{node.name}.six")], outs,
           name=node.name)


@lowering.register(Clamp)
def _clamp(op, b, node, ins, outs):
    dt = node.in_types[0].dtype
    bounds = [b.scalar(v, dt, f"{node.name}.{k}") if v is not None else ""   # "" = absent
              for k, v in (("min", op.min), ("max", op.max))]
    if bounds[-1] == "":
        bounds.pop()
    b.node("Clip", [ins[0]] + bounds, outs, name=node.name)


@lowering.register(Cast)
def _cast(op, b, node, ins, outs):
    from .builder import onnx_dtype
    b.node("Cast", ins, outs, name=node.name, to=onnx_dtype(op.dtype))
