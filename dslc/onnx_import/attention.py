"""Attention as dslc's backend lowers it (backends/onnx/attention.py). The scaled dot product
(sdpa): MatMul of q by k's Transpose, Mul by the scale, for causal=true a Where keeping the
lower triangle (a Trilu of a ConstantOfShape of the scores' Shape), for key_padding_mask= a
Where keeping the Not of the mask Unsqueezed (Anded with the triangle where both are), Softmax,
MatMul by v. Multi-head attention (attention) around it: the q, k and v projections (MatMul by
the Transpose of a Split of the packed in_proj_weight or of q/k/v_proj_weight, an Add of a
Split of in_proj_bias), each Reshaped to [N, T, heads, d] and Transposed to [N, heads, T, d];
for rotary=true q and k rotated (x*cos + rotate_half(x)*sin, the tables from a Range of the
length and the inverse frequencies, which give rope_base), for kv_heads= k and v repeated to
the query's heads (Unsqueeze, Expand, Reshape); the heads merged back (Transpose, Reshape) and
the output projection (out_proj's weight, then its bias or an Identity)."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .emit import Operands
from .graph import Layer, attrs, fail, layer_name, scalar_of, part_of

QKV = ("q", "k", "v")


class Head(NamedTuple):
    """One projection to heads: its input, the weight and bias values it reads, the number of
    heads and its nodes (the MatMul first)."""
    x: str
    weight: str
    bias: str | None
    heads: int
    nodes: list


def next_op(g, value, op_type, **want):
    """The one node reading `value`, when it is an `op_type` with the attributes `want`."""
    n = g.sole_consumer(value)
    if n is None or n.op_type != op_type or any(attrs(n).get(k) != v for k, v in want.items()):
        return None
    return n


def made_by(g, value, op_type, **want):
    """The node computing `value`, when it is an `op_type` with the attributes `want`."""
    n = g.producer.get(value)
    if n is None or n.op_type != op_type or any(attrs(n).get(k) != v for k, v in want.items()):
        return None
    return n


def _dot(g, kt):
    """The scaled dot product that begins with the Transpose `kt` of k: its q, k, v, scale,
    causal flag, padding mask, nodes and output; None when `kt` begins none."""
    rank = len(attrs(kt).get("perm", []))
    if rank < 2 or list(attrs(kt)["perm"]) != list(range(rank - 2)) + [rank - 1, rank - 2]:
        return None
    qk = next_op(g, kt.output[0], "MatMul")
    if qk is None or qk.input[1] != kt.output[0]:
        return None
    mul = next_op(g, qk.output[0], "Mul")
    scale = mul is not None and scalar_of(g.const(mul.input[1]))
    if not scale:
        return None
    nodes, scores, causal, mask = [kt, qk, mul], mul.output[0], False, None
    add = next((u for u in g.consumers.get(scores, []) if u.op_type == "Add"), None)
    where = add is not None and made_by(g, add.input[1], "Where")
    if add is not None and add.input[0] == scores and where:
        # the masks as an additive term: Where(allowed, 0, the dtype's lowest number)
        if scalar_of(g.const(where.input[1])) != 0 or \
                scalar_of(g.const(where.input[2])) != float(np.finfo(np.float32).min):
            return None
        keep = g.producer.get(where.input[0])
        if keep is not None and keep.op_type == "And":
            nodes.append(keep)
            not_, tril = (g.producer.get(i) for i in keep.input)
        elif keep is not None and keep.op_type == "Not":
            not_, tril = keep, None
        else:
            not_, tril = None, keep
        if not_ is None and tril is None:
            return None
        if tril is not None:
            band = _band(g, tril, scores)
            if band is None:
                return None
            nodes += band
            causal = True
        if not_ is not None:
            pad = made_by(g, not_.input[0], "Unsqueeze")
            if pad is None or not np.array_equal(g.const(pad.input[1]), [1, 2]):
                return None
            nodes += [pad, not_]
            mask = pad.input[0]
        nodes += [where, add]
        scores = add.output[0]
    soft = next_op(g, scores, "Softmax", axis=-1)
    ctx = soft and next_op(g, soft.output[0], "MatMul")
    if ctx is None or ctx.input[0] != soft.output[0]:
        return None
    return {"q": qk.input[0], "k": kt.input[0], "v": ctx.input[1], "scale": scale,
            "causal": causal, "mask": mask, "nodes": nodes + [soft, ctx], "out": ctx.output[0]}


def _band(g, tril, scores: str):
    """The nodes of the causal band `tril` (query i keeps keys j <= i + Tk - Tq): a Trilu of a
    ConstantOfShape [Tq, Tk] of the scores' two Shapes, k = Tk - Tq; None when it is not that."""
    if tril.op_type != "Trilu" or attrs(tril).get("upper", 1) != 0 or len(tril.input) < 2:
        return None
    ones = made_by(g, tril.input[0], "ConstantOfShape")
    square = ones and made_by(g, ones.input[0], "Concat")
    k0 = made_by(g, tril.input[1], "Squeeze")
    past = k0 and made_by(g, k0.input[0], "Sub")
    if not (square and past) or list(past.input) != [square.input[1], square.input[0]]:
        return None
    shapes = [g.producer.get(v) for v in square.input]
    if any(s is None or s.op_type != "Shape" or s.input[0] != scores for s in shapes):
        return None
    return [*shapes, past, square, ones, k0, tril]


def sdpa(g, node):
    d = _dot(g, node)
    if d is None:
        return None
    if d["mask"] is not None:
        raise fail(node, "a scaled dot product with a padding mask is no dslc sdpa")
    width = (g.dims.get(d["q"]) or [None])[-1]
    kw = {"causal": True} if d["causal"] else {}
    if not isinstance(width, int) or not math.isclose(d["scale"], 1 / math.sqrt(width),
                                                      rel_tol=1e-6):
        kw["scale"] = d["scale"]
    ctx = d["nodes"][-1]          # dslc's `<layer>.context`
    name = part_of(ctx, "context") or layer_name(ctx, None)
    return Layer("sdpa", [d["q"], d["k"], d["v"]], [d["out"]], name, kwargs=kw), d["nodes"]


def _head(g, value):
    """The projection whose [N, heads, T, d] output is `value`, or None."""
    tr = made_by(g, value, "Transpose", perm=[0, 2, 1, 3])
    rs = tr and made_by(g, tr.input[0], "Reshape")
    shape = rs and g.const(rs.input[1])
    if shape is None or [int(s) for s in shape[:2]] != [0, 0] or len(shape) != 4:
        return None
    nodes, bias, mm = [rs, tr], None, g.producer.get(rs.input[0])
    if mm is not None and mm.op_type == "Add" and mm.input[1] in g.static:
        nodes.insert(0, mm)
        bias, mm = mm.input[1], g.producer.get(mm.input[0])
    wt = mm is not None and mm.op_type == "MatMul" and made_by(g, mm.input[1], "Transpose",
                                                               perm=[1, 0])
    if not wt or wt.input[0] not in g.static:
        return None
    return Head(mm.input[0], wt.input[0], bias, int(shape[2]), [mm, *nodes])


def _repeated(g, value):
    """(the [N, kv_heads, T, d] heads, the nodes) of grouped-query heads repeated in place
    (Unsqueeze, Expand, Reshape), or (value, []) when `value` is no repetition."""
    rs = made_by(g, value, "Reshape")
    e = rs and made_by(g, rs.input[0], "Expand")
    u = e and made_by(g, e.input[0], "Unsqueeze")
    if u is None or not np.array_equal(g.const(u.input[1]), [2]):
        return value, []
    return u.input[0], [u, e, rs]


def _rotated(g, value):
    """(the heads, rope_base, the nodes) of a rotary embedding x*cos + rotate_half(x)*sin
    whose output is `value`, or None."""
    add = made_by(g, value, "Add")
    xcos, xsin = (g.producer.get(i) for i in add.input) if add else (None, None)
    if xcos is None or xsin is None or xcos.op_type != "Mul" or xsin.op_type != "Mul":
        return None
    (x, cos), (rot, sin) = xcos.input, xsin.input
    cat = made_by(g, rot, "Concat", axis=-1)
    neg = cat and made_by(g, cat.input[0], "Neg")
    halves = neg and made_by(g, neg.input[0], "Split", axis=-1)
    if not halves or halves.input[0] != x or list(halves.output) != [cat.input[1], neg.input[0]]:
        return None
    table, inv = _table(g, [cos, sin])
    if inv is None:
        return None
    d, base = 2 * inv.size, 10000.0
    if inv.size > 1:        # inv_freq = base ** (-2i / d)
        if not 0 < inv.reshape(-1)[1] < 1:
            return None
        base = float(f"{float(inv.reshape(-1)[1]) ** (-d / 2):.6g}")
        if not np.allclose(inv.reshape(-1), base ** (-np.arange(0, d, 2) / d), rtol=1e-5):
            return None
    return x, base, [halves, neg, cat, xcos, xsin, add, *table]


TABLE_OPS = {"Range", "Unsqueeze", "Mul", "Concat", "Cos", "Sin", "Cast"}


def _table(g, values):
    """The nodes computing rotary's cos and sin tables from the positions (a Range of the
    length) and the constant inverse frequencies they multiply; (None, None) when others do."""
    nodes, todo, inv = {}, list(values), None
    while todo:
        v = todo.pop()
        n = g.producer.get(v)
        if v in g.static or n is None or id(n) in nodes:
            continue
        if n.op_type not in TABLE_OPS:
            return None, None
        nodes[id(n)] = n
        if n.op_type == "Mul":
            inv = next((g.const(i) for i in n.input if g.const(i) is not None), inv)
        todo += list(n.input)
    return [n for n in g.nodes if id(n) in nodes], inv


def _packed(g, value, local):
    """(layer name, part index) of a Split of the constant `<layer>.<local>`, else None."""
    split = made_by(g, value, "Split")
    if split is None or not split.input[0].endswith("." + local) or \
            g.const(split.input[0]) is None:
        return None
    return split.input[0][: -len(local) - 1], list(split.output).index(value)


def _weights(g, heads):
    """The layer's name and its projection weights from the three heads' (weight, bias)."""
    (wq, bq), (wk, bk), (wv, bv) = heads
    packed = [_packed(g, w, "in_proj_weight") for w in (wq, wk, wv)]
    if all(packed):
        name = packed[0][0]
        if [p for p in packed] != [(name, i) for i in range(3)]:
            return None
        out = {"in_proj_weight": g.const(f"{name}.in_proj_weight")}
    else:
        name = wq[: -len(".q_proj_weight")] if wq.endswith(".q_proj_weight") else None
        if name is None or [wk, wv] != [f"{name}.{c}_proj_weight" for c in "kv"]:
            return None
        out = {f"{c}_proj_weight": g.const(w) for c, w in zip(QKV, (wq, wk, wv))}
    if any(b is not None for b in (bq, bk, bv)):
        if [_packed(g, b, "in_proj_bias") for b in (bq, bk, bv)] != [(name, i) for i in range(3)]:
            return None
        out["in_proj_bias"] = g.const(f"{name}.in_proj_bias")
    return name, out


def attention(g, node):
    """Multi-head attention, from its q projection's MatMul."""
    y = node.output[0]
    for op, want in (("Add", {}), ("Reshape", {}), ("Transpose", {"perm": [0, 2, 1, 3]})):
        n = next_op(g, y, op, **want)
        if n is None and op == "Add":
            continue
        if n is None:
            return None
        y = n.output[0]
    q = _head(g, y)
    if q is None or q.nodes[0] is not node or _packed(g, q.weight, "in_proj_weight") is None \
            and not q.weight.endswith(".q_proj_weight"):
        return None
    xcos = next((u for u in g.consumers.get(y, []) if u.op_type == "Mul" and u.input[0] == y),
                None)
    rope = xcos and next_op(g, xcos.output[0], "Add")
    qk = next_op(g, rope.output[0] if rope else y, "MatMul")
    kt = qk and g.producer.get(qk.input[1])
    d = kt is not None and kt.op_type == "Transpose" and _dot(g, kt)
    if not d:
        raise fail(node, "its heads are not read by a scaled dot product")
    (kr, rep_k), (vh, rep_v) = _repeated(g, d["k"]), _repeated(g, d["v"])
    rq, rk = _rotated(g, d["q"]), _rotated(g, kr)
    if bool(rq) != bool(rk) or rq and rq[1] != rk[1]:
        raise fail(node, "its q and k are not rotated alike")
    qh, kh = (rq[0], rk[0]) if rq else (d["q"], kr)
    k, v = _head(g, kh), _head(g, vh)
    if qh != y or k is None or v is None:
        raise fail(node, "it is not the subgraph of dslc's attention")
    found = _weights(g, [(p.weight, p.bias) for p in (q, k, v)])
    merge = next_op(g, d["out"], "Transpose", perm=[0, 2, 1, 3])
    merged = merge and next_op(g, merge.output[0], "Reshape")
    out = merged and next_op(g, merged.output[0], "MatMul")
    wt = out and made_by(g, out.input[1], "Transpose", perm=[1, 0])
    if found is None or wt is None or k.heads != v.heads or q.heads % k.heads or \
            bool(rep_k) != (k.heads != q.heads) or bool(rep_v) != bool(rep_k):
        raise fail(node, "it is not the subgraph of dslc's attention")
    name, weights = found
    weights["out_proj.weight"] = g.const(wt.input[0])
    last = g.sole_consumer(out.output[0])
    if last is None or last.op_type not in ("Add", "Identity") or \
            weights["out_proj.weight"] is None:
        raise fail(node, "its output projection is not dslc's")
    if last.op_type == "Add":
        weights["out_proj.bias"] = g.const(last.input[1])
        if weights["out_proj.bias"] is None:
            raise fail(last, "its output projection's bias is not a constant")
    ins = list(dict.fromkeys(p.x for p in (q, k, v)))
    ins = ins if len(ins) != 2 or k.x == v.x else [q.x, k.x, v.x]
    kw = {"bias": "in_proj_bias" in weights, "causal": d["causal"], "rotary": bool(rq),
          **({"rope_base": rq[1]} if rq else {}), **({"kv_heads": k.heads} if rep_k else {})}
    if d["mask"] is not None:
        kw["key_padding_mask"] = Operands([d["mask"]])
        ins.append(d["mask"])
    used = q.nodes[1:] + k.nodes + v.nodes + (rq[2] + rk[2] if rq else []) + rep_k + rep_v + \
        d["nodes"] + [merge, merged, out, last]
    return Layer("attention", ins, [last.output[0]], name, args=(q.heads,), kwargs=kw,
                 weights=weights), used


PATTERNS = {"MatMul": [attention], "Transpose": [sdpa]}
MATCHERS: dict = {}
