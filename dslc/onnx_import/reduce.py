"""Reductions: ReduceSum/Mean/Max/Min/Prod over constant axes (sum, mean, max, min, prod; an
integer sum's Cast to i64 before it is part of it; in a graph dslc did not write, a f32
ReduceMean or ReduceMax over every axis after N and C, keepdims, is global_avgpool or
global_maxpool), ReduceL1/L2 and the Abs -> Pow -> ReduceSum
-> Pow and Abs -> ReduceMax forms (norm), dslc's var/std (ReduceMean, Sub, ReduceSumSquare, a
Div by the count less the correction, a Sqrt for std) and logsumexp (ReduceMax, IsInf, Where,
Sub, Exp, ReduceSum, Log, Add), ArgMax/ArgMin (with the Reshape to [-1] of the flattened
form)."""
from __future__ import annotations

import math
import re

import numpy as np

from .graph import Layer, attrs, fail, layer_name, scalar_of, part_of

SIMPLE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
          "ReduceProd": "prod", "ReduceL1": "norm", "ReduceL2": "norm"}


def axes_of(g, node):
    """(the axes a ReduceX reduces, sorted, non-negative where the rank is known; None: every
    axis, keepdim)."""
    a = attrs(node)
    keep = bool(a.get("keepdims", 1))
    given = a.get("axes")
    if len(node.input) > 1 and node.input[1]:
        c = g.const(node.input[1])
        if c is None:
            raise fail(node, "its axes are not a constant")
        given = [int(v) for v in c.reshape(-1)]
    rank = g.ranks.get(node.input[0])
    if not given:
        if a.get("noop_with_empty_axes", 0):
            raise fail(node, "noop_with_empty_axes has no dslc form")
        return None, keep
    if rank is not None:
        given = sorted(v % rank for v in given)
        if given == list(range(rank)):
            return None, keep
    return tuple(given), keep


def _kw(axes, keep, **extra) -> dict:
    kw = dict(extra)
    if axes is not None:
        kw["axis"] = axes[0] if len(axes) == 1 else tuple(axes)
    if keep:
        kw["keepdim"] = True
    return kw


def simple(g, node, x=None, used=()):
    axes, keep = axes_of(g, node)
    kind = SIMPLE[node.op_type]
    extra = {"p": 1 if node.op_type == "ReduceL1" else 2} if kind == "norm" else {}
    if kind == "max" and (lse := _logsumexp(g, node, axes, keep)):
        return lse
    rank = g.ranks.get(node.input[0])
    if kind in ("mean", "max") and keep and rank and rank >= 3 and axes == tuple(
            range(2, rank)) and x is None and g.types.get(node.input[0]) == 1 and \
            g.proto.producer_name != "dslc":
        # torch's mean over the spatial axes (keepdim), its adaptive pool to 1 as the dynamo
        # exporter writes it: the global pool it is (dslc's own graphs keep their mean)
        return Layer(f"global_{'avg' if kind == 'mean' else 'max'}pool", [node.input[0]],
                     [node.output[0]], layer_name(node, None)), list(used)
    return Layer(kind, [x or node.input[0]], [node.output[0]], layer_name(node, None),
                 kwargs=_kw(axes, keep, **extra)), list(used)


def _only(g, value, op_type):
    n = g.sole_consumer(value)
    return n if n is not None and n.op_type == op_type else None


def cast_then_sum(g, node):
    """An integer sum or prod: Cast to i64 read only by the ReduceSum or ReduceProd."""
    from onnx import TensorProto
    nxt = g.sole_consumer(node.output[0])
    if attrs(node).get("to") != TensorProto.INT64 or nxt is None or \
            nxt.op_type not in ("ReduceSum", "ReduceProd") or nxt.input[0] != node.output[0]:
        return None
    layer, used = simple(g, nxt, x=node.input[0])
    layer.name = layer_name(nxt, None)
    return layer, [nxt, *used]


def _scalar(g, value):
    return scalar_of(g.const(value))


def variance(g, node):
    """ReduceMean(keepdims) -> Sub -> ReduceSumSquare -> Div by (count - correction) [-> Sqrt]."""
    x = node.input[0]
    axes, keep = axes_of(g, node)
    sub = _only(g, node.output[0], "Sub")
    if not keep or sub is None or list(sub.input) != [x, node.output[0]]:
        return None
    sq = _only(g, sub.output[0], "ReduceSumSquare")
    div = sq and _only(g, sq.output[0], "Div")
    if div is None or div.input[0] != sq.output[0]:
        return None
    sq_axes, keepdim = axes_of(g, sq)
    if sq_axes != axes:
        return None
    used, count, correction = [sub, sq, div], div.input[1], 0
    dof = g.producer.get(count)
    if dof is not None and dof.op_type == "Sub" and _scalar(g, dof.input[1]) is not None:
        correction, count = _scalar(g, dof.input[1]), dof.input[0]
        used.append(dof)
    if count not in g.static:
        return None
    out, kind = div.output[0], "var"
    sqrt = _only(g, out, "Sqrt")
    if sqrt is not None:
        out, kind = sqrt.output[0], "std"
        used.append(sqrt)
    correction = int(correction) if float(correction).is_integer() else float(correction)
    kw = _kw(axes, keepdim, **({} if correction == 1 else {"correction": correction}))
    return Layer(kind, [x], [out], layer_name(used[-1], None), kwargs=kw), used


def _logsumexp(g, node, axes, keep):
    """ReduceMax(keepdims) -> IsInf -> Where(inf, 0, m) -> Sub -> Exp -> ReduceSum -> Log
    [-> Squeeze of the shift] -> Add."""
    x, m = node.input[0], node.output[0]
    users = g.consumers.get(m, [])
    inf = next((u for u in users if u.op_type == "IsInf"), None)
    where = next((u for u in users if u.op_type == "Where"), None)
    if not keep or inf is None or where is None or len(users) != 2 or \
            list(where.input[::2]) != [inf.output[0], m] or _scalar(g, where.input[1]) != 0:
        return None
    shift = where.output[0]
    readers = g.consumers.get(shift, [])
    sub = next((u for u in readers if u.op_type == "Sub" and list(u.input) == [x, shift]), None)
    exp = sub and _only(g, sub.output[0], "Exp")
    total = exp and _only(g, exp.output[0], "ReduceSum")
    log = total and _only(g, total.output[0], "Log")
    add = log and _only(g, log.output[0], "Add")
    if add is None:
        return None
    used = [inf, where, sub, exp, total, log, add]
    squeeze = next((u for u in readers if u.op_type == "Squeeze"), None)
    if squeeze is not None:
        used.append(squeeze)
    _, keepdim = axes_of(g, total)
    return Layer("logsumexp", [x], [add.output[0]], layer_name(add, None),
                 kwargs=_kw(axes, keepdim)), used


def pnorm(g, node):
    """Abs -> ReduceMax (norm p=inf), Abs -> Pow(p) -> ReduceSum -> Pow(1/p) (norm p)."""
    nxt = g.sole_consumer(node.output[0])
    if nxt is None:
        return None
    if nxt.op_type == "ReduceMax":
        axes, keep = axes_of(g, nxt)
        return Layer("norm", [node.input[0]], [nxt.output[0]], layer_name(nxt, None),
                     kwargs=_kw(axes, keep, p="inf")), [nxt]
    if nxt.op_type != "Pow" or (p := _scalar(g, nxt.input[1])) is None:
        return None
    total = _only(g, nxt.output[0], "ReduceSum")
    root = total and _only(g, total.output[0], "Pow")
    if root is None or (q := _scalar(g, root.input[1])) is None or \
            not math.isclose(p * q, 1, rel_tol=1e-6):
        return None
    axes, keep = axes_of(g, total)
    p = int(p) if float(p).is_integer() else float(np.float32(p))
    return Layer("norm", [node.input[0]], [root.output[0]], layer_name(root, None),
                 kwargs=_kw(axes, keep, p=p)), [nxt, total, root]


def arg(g, node):
    a = attrs(node)
    if a.get("select_last_index", 0):
        raise fail(node, "select_last_index=1 has no dslc form (dslc gives the first index)")
    kind = "argmax" if node.op_type == "ArgMax" else "argmin"
    kw = {"axis": a.get("axis", 0)} | ({"keepdim": True} if a.get("keepdims", 1) else {})
    return Layer(kind, [node.input[0]], [node.output[0]], layer_name(node, None), kwargs=kw), []


def flat_arg(g, node):
    """Reshape to [-1] -> ArgMax(axis 0, keepdims 0) [-> Reshape to [1] * rank]: the index
    into the flattened tensor."""
    shape = g.shape_of(node.input[1])
    nxt = g.sole_consumer(node.output[0])
    if shape != [-1] or nxt is None or nxt.op_type not in ("ArgMax", "ArgMin"):
        return None
    a = attrs(nxt)
    if a.get("axis", 0) != 0 or a.get("keepdims", 1) or a.get("select_last_index", 0):
        return None
    kind = "argmax" if nxt.op_type == "ArgMax" else "argmin"
    used, out, kw = [nxt], nxt.output[0], {}
    back = _only(g, out, "Reshape")
    rank = g.ranks.get(node.input[0])
    if back is not None and rank and g.shape_of(back.input[1]) == [1] * rank:
        used, out, kw = [nxt, back], back.output[0], {"keepdim": True}
    return Layer(kind, [node.input[0]], [out], layer_name(used[-1], None), kwargs=kw), used


def maxout(g, node):
    """dslc's maxout(k): a Reshape named `<layer>.pieces` to [..., F / k, k] (leading dims
    copied) read by the ReduceMax over the last axis named `<layer>` (a reshape and a max
    written as such give the same nodes under their own names)."""
    red = _only(g, node.output[0], "ReduceMax")
    shape = g.shape_of(node.input[1])
    rank = g.ranks.get(node.input[0])
    base = part_of(node, "pieces")
    if red is None or base is None or shape is None or rank is None or \
            len(shape) != rank + 1 or not isinstance(shape[-1], int) or shape[-1] < 1:
        return None
    if red.name != base and not re.fullmatch(re.escape(base) + r"_\d+", red.name):
        return None
    axes, keep = axes_of(g, red)
    if keep or axes != (rank,):
        return None
    return Layer("maxout", [node.input[0]], [red.output[0]], layer_name(red, None),
                 args=(shape[-1],)), [red]


MATCHERS = {**{t: simple for t in SIMPLE}, "ArgMax": arg, "ArgMin": arg}
PATTERNS = {"ReduceMean": [variance], "Cast": [cast_then_sum], "Abs": [pnorm],
            "Reshape": [flat_arg, maxout]}
