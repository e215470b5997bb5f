"""Shared weights: a layer reading an initializer that an earlier layer read uses that layer's
parameter (dslc's `tie=`: `tie=enc` for all its parameters, `tie={weight: enc}` for those
named), which is counted once; a block call whose every parameter is the one of the same layer
in an earlier call of the block is `Block(tie=first)` (fold.py)."""
from __future__ import annotations

from .graph import fail, layer_name


def claim(g, node, layer, owners: dict) -> None:
    """Record in `layer.ties` ({local: layer name}) the weights an earlier layer owns, and make
    `layer` the owner of the others in `owners` ({id of an array's root: (layer name, local,
    shape)}). A tied layer is named after its output (its weight's prefix names the owner)."""
    roots = {k: (id(a if a.base is None else a.base), a.shape) for k, a in layer.weights.items()}
    for local, (root, shape) in roots.items():
        if root in owners:
            name, theirs, their_shape = owners[root]
            if (theirs, their_shape) != (local, shape):
                raise fail(node, f"it shares a weight with layer '{name}' as its {local} (that "
                                 f"layer's {theirs}); dslc ties a parameter to the same parameter "
                                 "of another layer")
            layer.ties[local] = name
    if layer.ties and layer.name in layer.ties.values():
        layer.name = layer_name(g.producer[layer.outputs[0]], None)
    for local, (root, shape) in roots.items():
        if local not in layer.ties:
            owners[root] = (layer.name or node.name, local, shape)


def local_ties(layer, scope: str) -> tuple:
    """A layer's ties as a block's body has them: a layer of the same call by its local name."""
    inside = scope + "."
    return tuple(sorted((k, ("local", v[len(inside):]) if v.startswith(inside) else ("layer", v))
                        for k, v in layer.ties.items()))


def tied_call(run, earlier) -> bool:
    """Whether every parameter of the block call `run` is the one of the same layer in the call
    `earlier` of the same block (their layers in order)."""
    owning = [(l, e) for l, e in zip(run, earlier) if l.weights]
    return len(run) == len(earlier) and bool(owning) and all(
        set(l.ties) == set(l.weights) and all(l.ties[k] == e.ties.get(k, e.name) for k in l.ties)
        for l, e in owning)
