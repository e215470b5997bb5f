"""Normalisations dslc writes as several standard nodes, read by the layer and role each node
records (graph.dslc_part): groupnorm (Reshape `grouped` to [N, G, -1], the mean/variance
normalisation `norm.*` over the last axis, Reshape `ungrouped`, then the per-channel affine),
instancenorm (the normalisation over the positions, then the affine), layernorm(axis=) over one
inner axis (the normalisation over that axis, the affine along it), and quick_gelu (Mul
`scaled` by 1.702, Sigmoid, Mul). Also ONNX's own InstanceNormalization, as torch exports
InstanceNormNd and the normalisation inside GroupNorm."""
from __future__ import annotations

import numpy as np

from .graph import Layer, attrs, dslc_part, fail, layer_name, part_of, scalar_of


def _parts(g, layer: str) -> dict:
    """role -> node, for the nodes of `layer`."""
    return {p[1]: n for n in g.nodes if (p := dslc_part(n)) is not None and p[0] == layer}


def _norm_kwargs(g, parts: dict) -> dict | None:
    """eps, and the weights of the affine that follows (`weight_along`, `bias_along`), or None
    when the normalisation is not dslc's whole subgraph."""
    if not {"norm.mean", "norm.centred", "norm.var", "norm.var_eps", "norm.std", "norm.div",
            ""} <= parts.keys():
        return None
    eps = scalar_of(g.const(parts["norm.var_eps"].input[1]))
    if eps is None:
        return None
    kw = {} if np.isclose(eps, 1e-5, rtol=1e-6) else {"eps": float(np.float32(eps))}
    weights = {local: g.const(parts[f"{local}_along"].input[0])
               for local in ("weight", "bias") if f"{local}_along" in parts}
    return None if any(w is None for w in weights.values()) else {"kw": kw, "weights": weights}


def _axis(g, parts: dict, rank: int) -> int | None:
    """The axis of a rank-`rank` input that the affine lays its [C] weights along (from the
    shape [-1, 1, ...] they are reshaped to)."""
    along = parts.get("weight_along")
    shape = g.const(along.input[1]) if along is not None else None
    return None if shape is None else rank - len(shape)


def groupnorm(g, node):
    layer = part_of(node, "grouped")
    shape = g.const(node.input[1]) if layer else None
    if shape is None or len(shape) != 3:
        return None
    parts = _parts(g, layer)
    found = _norm_kwargs(g, parts) if "ungrouped" in parts else None
    if found is None:
        return None
    kw = {**found["kw"], **({} if found["weights"] else {"affine": False})}
    out = parts[""]
    return Layer("groupnorm", [node.input[0]], [out.output[0]], layer, args=(int(shape[1]),),
                 kwargs=kw, weights=found["weights"]), [n for r, n in parts.items() if r != "grouped"]


def axis_norm(g, node):
    """instancenorm, or layernorm over one inner axis, from the ReduceMean that starts it."""
    layer = part_of(node, "norm.mean")
    parts = _parts(g, layer) if layer else {}
    if not parts or "grouped" in parts:
        return None
    found = _norm_kwargs(g, parts)
    axes, rank = g.const(node.input[1]), g.ranks.get(node.input[0])
    if found is None or axes is None or rank is None:
        return None
    axes = sorted(int(a) % rank for a in axes)
    along, weights = _axis(g, parts, rank), found["weights"]
    used = [n for r, n in parts.items() if r != "norm.mean"]
    if axes == list(range(2, rank)) and along in (None, 1):
        kw = {**found["kw"], **({"affine": True} if weights else {})}
        return Layer("instancenorm", [node.input[0]], [parts[""].output[0]], layer, kwargs=kw,
                     weights=weights), used
    if len(axes) != 1 or along not in (None, axes[0]):
        return None
    kw = {**found["kw"], "axis": axes[0]}
    if not weights:
        kw["elementwise_affine"] = False
    elif "bias" not in weights:
        kw["bias"] = False
    return Layer("layernorm", [node.input[0]], [parts[""].output[0]], layer, kwargs=kw,
                 weights=weights), used


def quick_gelu(g, node):
    layer = part_of(node, "scaled")
    if layer is None or scalar_of(g.const(node.input[1])) is None or \
            not np.isclose(scalar_of(g.const(node.input[1])), 1.702):
        return None
    sig = g.sole_consumer(node.output[0])
    mul = sig and g.sole_consumer(sig.output[0])
    if mul is None or dslc_part(sig) != (layer, "sigmoid") or dslc_part(mul) != (layer, "") or \
            mul.op_type != "Mul" or list(mul.input) != [node.input[0], sig.output[0]]:
        return None
    return Layer("quick_gelu", [node.input[0]], [mul.output[0]], layer), [sig, mul]


def instance_normalization(g, node):
    """ONNX InstanceNormalization (torch.onnx.export's InstanceNormNd, and the inner step of
    its GroupNorm): instancenorm, affine unless the scale and bias are unnamed ones and
    zeros."""
    scale, bias = g.const(node.input[1]), g.const(node.input[2])
    if scale is None or bias is None:
        raise fail(node, "its scale and bias are not constants")
    eps = float(np.float32(attrs(node).get("epsilon", 1e-5)))
    kw = {} if np.isclose(eps, 1e-5, rtol=1e-6) else {"eps": eps}
    named = node.input[1].endswith(".weight")
    weights = {"weight": scale, "bias": bias}
    if not named and np.all(scale == 1) and np.all(bias == 0):
        weights = {}
    else:
        kw["affine"] = True
    return Layer("instancenorm", [node.input[0]], [node.output[0]],
                 layer_name(node, node.input[1] if named else None), kwargs=kw,
                 weights=weights), []


MATCHERS: dict = {"InstanceNormalization": instance_normalization}
PATTERNS = {"Reshape": [groupnorm], "ReduceMean": [axis_norm], "Mul": [quick_gelu]}
