"""New and dropped axes and repetitions: Unsqueeze and Squeeze of constant axes (unsqueeze,
squeeze), Tile of constant repetitions (tile; leading repetitions past the input's rank are
dslc's Unsqueeze `<layer>.unsqueeze` before the Tile), dslc's stack (an Unsqueeze
`<layer>.unsqueeze` of each input, Concat `<layer>` along the new axis) and repeat_interleave
(Unsqueeze `<layer>.unsqueeze` after the axis, Expand `<layer>.expand` to the repeats, Reshape
`<layer>` merging them; with no axis a Reshape `<layer>.flatten` to [-1] first)."""
from __future__ import annotations

import re

from .graph import Layer, attrs, fail, layer_name, named_part


def _axes(g, node) -> list[int] | None:
    """The constant axes of an Unsqueeze or Squeeze (input or attribute), None when not."""
    if len(node.input) > 1 and node.input[1]:
        c = g.const(node.input[1])
        return None if c is None else [int(v) for v in c.reshape(-1)]
    return [int(v) for v in attrs(node).get("axes", [])] or None


def _owner(node, part: str) -> str | None:
    """`stack_1` for a node named `stack_1.unsqueeze_2` (part `unsqueeze`)."""
    m = re.fullmatch(rf"(.+)\.{part}(_\d+)?", node.name)
    return m.group(1) if m else None


def unsqueeze(g, node):
    axes = _axes(g, node)
    if axes is None or len(axes) != 1:
        raise fail(node, "only an Unsqueeze of one constant axis is a dslc unsqueeze")
    return Layer("unsqueeze", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(axes[0],)), []


def squeeze(g, node):
    axes = _axes(g, node)
    if axes is None:
        raise fail(node, "only a Squeeze of constant axes is a dslc squeeze")
    return Layer("squeeze", [node.input[0]], [node.output[0]], layer_name(node, None),
                 args=(axes[0] if len(axes) == 1 else tuple(axes),)), []


def tile(g, node, x=None, used=()):
    reps = g.const(node.input[1])
    if reps is None:
        raise fail(node, "only a Tile of constant repetitions is a dslc tile")
    reps = [int(r) for r in reps.reshape(-1)]
    if x is None:           # one per axis: leading 1s are tile's own padding
        while len(reps) > 1 and reps[0] == 1:
            reps.pop(0)
    return Layer("tile", [x or node.input[0]], [node.output[0]], layer_name(node, None),
                 args=tuple(reps)), list(used)


def stack(g, node):
    """Unsqueezes `<layer>.unsqueeze` of one axis, each read only by the Concat `<layer>`."""
    layer, cat = _owner(node, "unsqueeze"), g.sole_consumer(node.output[0])
    if layer is None or cat is None or cat.op_type != "Concat" or layer_name(cat, None) != layer:
        return None
    parts = [g.producer.get(i) for i in cat.input]
    axes = _axes(g, node)
    if any(not named_part(p, layer, "unsqueeze") or p.op_type != "Unsqueeze" or _axes(g, p) != axes
           or g.sole_consumer(p.output[0]) is not cat for p in parts) or len(axes or ()) != 1 or \
            attrs(cat)["axis"] != axes[0]:
        return None
    return Layer("stack", [p.input[0] for p in parts], [cat.output[0]], layer,
                 kwargs={"axis": axes[0]}), [p for p in parts if p is not node] + [cat]


def lead(g, node):
    """tile with more repetitions than axes: Unsqueeze `<layer>.unsqueeze` -> Tile `<layer>`."""
    layer, nxt = _owner(node, "unsqueeze"), g.sole_consumer(node.output[0])
    if layer is None or nxt is None or nxt.op_type != "Tile" or layer_name(nxt, None) != layer:
        return None
    return tile(g, nxt, node.input[0], [nxt])


def repeat(g, node, flat=None):
    """repeat_interleave: Unsqueeze(a + 1) -> Expand to [1.., repeats, 1..] -> Reshape."""
    layer, expand = _owner(node, "unsqueeze"), g.sole_consumer(node.output[0])
    axes = _axes(g, node)
    if layer is None or not named_part(expand, layer, "expand") or expand.op_type != "Expand" or \
            axes is None or len(axes) != 1:
        return None
    sizes = g.const(expand.input[1])
    merge = g.sole_consumer(expand.output[0])
    if sizes is None or merge is None or merge.op_type != "Reshape" or \
            layer_name(merge, None) != layer or not 0 < axes[0] < sizes.size:
        return None
    kw = {} if flat else {"axis": axes[0] - 1}
    x = (flat or node).input[0]
    return Layer("repeat_interleave", [x], [merge.output[0]], layer,
                 args=(int(sizes.reshape(-1)[axes[0]]),), kwargs=kw), \
        [expand, merge] + ([node] if flat else [])


def flat_repeat(g, node):
    """repeat_interleave with no axis: Reshape `<layer>.flatten` to [-1] first."""
    layer, nxt = _owner(node, "flatten"), g.sole_consumer(node.output[0])
    if layer is None or g.shape_of(node.input[1]) != [-1] or nxt is None or \
            nxt.op_type != "Unsqueeze" or not named_part(nxt, layer, "unsqueeze"):
        return None
    return repeat(g, nxt, flat=node)


MATCHERS = {"Unsqueeze": unsqueeze, "Squeeze": squeeze, "Tile": tile}
PATTERNS = {"Unsqueeze": [stack, lead, repeat], "Reshape": [flat_repeat]}
