"""Fully connected layers: Gemm (torch.onnx's nn.Linear on [N, F], dslc's dense on rank 2;
with transA, alpha, beta or a matrix bias the dense and the layers around it),
MatMul with a constant weight and an optional Add of a constant bias (dslc's dense on higher
ranks; torch.onnx's nn.Linear on [N, T, F], whose weight it stores transposed), and MatMul
of two tensors (`a @ b`)."""
from __future__ import annotations

from .graph import Layer, attrs, fail, layer_name


def _dense(node, x, weight, bias, out, name):
    """A dense layer from its weight in torch layout [out, in]."""
    kwargs = {"bias": bias is not None}
    return Layer("dense", [x], [out], name, args=(weight.shape[0],), kwargs=kwargs,
                 weights={"weight": weight, **({"bias": bias} if bias is not None else {})})


def gemm(g, node):
    """alpha * A' @ B' + beta * C: a dense layer on A (transposed first when transA) when B is
    a constant matrix; C its bias when it is a vector of the output width and alpha and beta
    are 1, else the dense has none and `* alpha`, the number C or a `param` of C (`* beta`)
    added follow (a matrix bias, a scaled product)."""
    a = attrs(node)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    w = g.const(node.input[1])
    if w is None or w.ndim != 2:
        raise fail(node, f"its weight B is not a constant matrix{g.unfolded(node.input[1])}")
    width = w.shape[0 if a.get("transB", 0) else 1]
    has_bias = len(node.input) > 2 and bool(node.input[2])
    c = g.const(node.input[2]) if has_bias else None
    if has_bias and c is None:
        raise fail(node, "its C is not a constant")
    plain = alpha == 1.0 and (c is None or beta == 1.0 and c.size == width and
                              c.shape[-1] == width)
    bias = _vector(c) if plain else None
    x, out, layer = node.input[0], node.output[0], layer_name(node, node.input[1])
    pre, post = [], []
    if a.get("transA", 0):
        pre.append(Layer("transpose", [x], [f"{out}.a"], None, args=(0, 1)))
        x = f"{out}.a"
    if not plain:
        steps = [("mul", "*", alpha)] if alpha != 1.0 else []
        if c is not None and c.size == 1:
            steps.append(("add", "+", beta * float(c.reshape(()))))
        elif c is not None:
            post.append(Layer("param", [], [f"{out}.c"], node.input[2],
                              args=([int(d) for d in c.shape],), weights={"weight": c}))
            term = f"{out}.c"
            if beta != 1.0:
                post.append(Layer("mul", [term], [f"{out}.beta_c"], None,
                                  kwargs={"scalar": beta}, infix="*"))
                term = f"{out}.beta_c"
        cur = f"{out}.ab"
        for k, (kind, sym, v) in enumerate(steps):
            nxt = f"{out}.ab{k}"
            post.insert(k, Layer(kind, [cur], [nxt], None, kwargs={"scalar": v}, infix=sym))
            cur = nxt
        if c is not None and c.size > 1:
            post.append(Layer("add", [cur, term], [out], None, infix="+"))
        else:
            post[-1].outputs = [out]
        out = f"{out}.ab"
    if a.get("transB", 0):
        dense = _dense(node, x, w, bias, out, layer)
    else:
        dense = _in_out(node, x, node.input[1], w, bias, out, layer)
    return [*pre, dense, *post] if pre or post else dense, []


def _vector(b):
    return None if b is None else b.reshape(-1)


def _in_out(node, x, wname, w, bias, out, name):
    """A weight stored [in, out]: dslc's transpose=true when named `<layer>.weight`, else
    transposed to torch's layout."""
    if wname.endswith(".weight"):
        layer = _dense(node, x, w.T, bias, out, name)
        layer.kwargs["transpose"] = True
        layer.weights["weight"] = w
        return layer
    return _dense(node, x, w.T.copy(), bias, out, name)


def matmul(g, node):
    x, b = node.input
    w = g.const(b)
    t = g.producer.get(b)
    transposed = t is not None and t.op_type == "Transpose" and g.const(t.input[0]) is not None \
        and list(attrs(t).get("perm", [1, 0])) == [1, 0] and g.uses(b) == 1
    if w is None and not transposed:
        if g.const(x) is not None:
            raise fail(node, "a constant left operand is no dslc layer")
        return Layer("matmul", [x, b], [node.output[0]], layer_name(node, None), infix="@"), []
    wname = t.input[0] if transposed else b
    w = g.const(wname)
    if w.ndim != 2:
        raise fail(node, "its constant operand is not a matrix")
    used, out, bias = [], node.output[0], None
    add = g.sole_consumer(out)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == out else add.input[0]
        c = g.const(other)
        if c is not None and c.size == w.shape[0 if transposed else 1] and c.ndim == 1:
            used, out, bias = [add], add.output[0], c
    last = used[-1] if used else node
    name = layer_name(node, wname) if wname.endswith(".weight") else layer_name(last, None)
    if transposed:
        return _dense(node, x, w, bias, out, name), used + [t]
    return _in_out(node, x, wname, w, bias, out, name), used


MATCHERS = {"Gemm": gemm, "MatMul": matmul}
