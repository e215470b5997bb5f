"""The pieces of Transformers besides attention, as dslc lowers them (ops/attention.py):
positional (the input plus the first T rows a Slice takes of its table, the learned weight or
the sinusoidal constant, at the input's Shape), class_token (its weight Expanded to the batch
and Concatenated before the input), select (a Gather of one position) and rmsnorm (Mul of the
input by itself, ReduceMean over the last dim, Add of eps, Sqrt, Div, Mul by the weight)."""
from __future__ import annotations

import numpy as np

from .attention import made_by, next_op
from .graph import Layer, attrs, fail, layer_name, scalar_of


def positional(g, node):
    """The input plus its table's first T rows."""
    x, rows = node.input
    sl = made_by(g, rows, "Slice")
    t = sl and made_by(g, sl.input[2], "Shape", start=1, end=2)
    table = sl and g.const(sl.input[0])
    if table is None or t is None or t.input[0] != x or table.ndim != 2 or \
            any(not np.array_equal(g.const(i), [0]) for i in sl.input[1:4:2]):
        return None
    if sl.input[0].endswith(".weight"):
        return Layer("positional", [x], [node.output[0]], layer_name(node, sl.input[0]),
                     args=(table.shape[0],), weights={"weight": table}), []
    from ..ops.positions import Positional
    op = Positional(max_len=table.shape[0], encoding="sinusoidal")
    if not np.allclose(table, op.table(table.shape[1]), rtol=0,
                       atol=2 * np.finfo(table.dtype).eps):
        raise fail(node, "its position table is neither a weight nor the sinusoidal one")
    return Layer("positional", [x], [node.output[0]], layer_name(node, None),
                 args=(table.shape[0],), kwargs={"encoding": "sinusoidal"}), []


def class_token(g, node):
    """The token `<layer>.weight` [1, 1, D] Expanded to the batch and Concatenated before x."""
    w, shape = node.input
    token = g.const(w)
    cat = next_op(g, node.output[0], "Concat", axis=1)
    if token is None or token.shape[:2] != (1, 1) or token.ndim != 3 or cat is None or \
            not w.endswith(".weight") or len(cat.input) != 2 or cat.input[0] != node.output[0]:
        return None
    sizes, x = made_by(g, shape, "Concat", axis=0), cat.input[1]
    batch = sizes and made_by(g, sizes.input[0], "Shape", start=0, end=1)
    if batch is None or batch.input[0] != x or (g.shape_of(shape) or [])[1:] != [1, 1]:
        return None
    return Layer("class_token", [x], [cat.output[0]], layer_name(node, w),
                 weights={"weight": token}), [cat]


def select(g, node):
    """A Gather of one position (a 0-d constant index) of a tensor."""
    index = g.const(node.input[1])
    if index is None or index.ndim or g.const(node.input[0]) is not None:
        return None
    axis = int(attrs(node).get("axis", 0))
    return Layer("select", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(int(index),) + ((axis,) if axis != 1 else ())), []


def rmsnorm(g, node):
    """x / sqrt(mean(x * x over the last dim) + eps) * weight, from the square."""
    x = node.input[0]
    mean = next_op(g, node.output[0], "ReduceMean", keepdims=1) if node.input[1] == x else None
    axes = mean and (g.const(mean.input[1]) if len(mean.input) > 1 else attrs(mean).get("axes"))
    if axes is None or list(np.reshape(axes, -1)) != [-1]:
        return None
    add = next_op(g, mean.output[0], "Add")
    eps = add and scalar_of(g.const(add.input[1]))
    sqrt = next_op(g, add.output[0], "Sqrt") if eps is not None else None
    div = sqrt and next_op(g, sqrt.output[0], "Div")
    scale = next_op(g, div.output[0], "Mul") if div and list(div.input) == [x, sqrt.output[0]] \
        else None
    weight = g.const(scale.input[1]) if scale else None
    if weight is None or weight.ndim != 1:
        return None
    from ..ops.attention import RMSNorm
    kw = {} if np.float32(eps) == np.float32(RMSNorm.model_fields["eps"].default) else {"eps": eps}
    return Layer("rmsnorm", [x], [scale.output[0]], layer_name(scale, scale.input[1]),
                 kwargs=kw, weights={"weight": weight}), [mean, add, sqrt, div, scale]


PATTERNS = {"Add": [positional], "Expand": [class_token], "Gather": [select], "Mul": [rmsnorm]}
MATCHERS: dict = {}
