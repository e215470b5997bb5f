"""Weights (numpy is imported lazily: `dslc check` never needs it): deterministic from a seed, torch-default unless the spec says `init=`.

Each tensor draws from its own generator, seeded by (seed, its name), so adding a layer never
changes the weights of the others. The same arrays feed both backends.
"""
from __future__ import annotations

import math
import zlib
from math import prod

from ..values import InitVal

# name -> (allowed keyword arguments with defaults)
INIT_FUNCS: dict[str, dict] = {
    "zeros": {}, "ones": {}, "constant": {"value": 0.0},
    "normal": {"mean": 0.0, "std": 1.0}, "uniform": {"a": 0.0, "b": 1.0},
    "xavier_uniform": {"gain": 1.0}, "xavier_normal": {"gain": 1.0},
    "kaiming_uniform": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
    "kaiming_normal": {"a": 0.0, "mode": "fan_in", "nonlinearity": "leaky_relu"},
}


def _fans(shape) -> tuple[int, int]:
    rf = prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * rf, shape[0] * rf


_GAINS = {"relu": math.sqrt(2.0), "tanh": 5.0 / 3, "selu": 0.75, "linear": 1.0, "sigmoid": 1.0}


def _gain(nonlinearity: str, a: float) -> float:
    """torch.nn.init.calculate_gain; leaky_relu's depends on its slope a."""
    return _GAINS.get(nonlinearity, math.sqrt(2.0 / (1 + a * a)))


def _normalise_one(value, shape) -> tuple[str | None, dict | None]:
    if isinstance(value, str):
        value = InitVal(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None, {"fn": "constant", "value": float(value)}
    if isinstance(value, list):
        got = _nested_shape(value)
        if got != tuple(shape):
            what = f"shape {list(got)}" if got is not None else "ragged or non-numeric rows"
            return f"the values have {what}, the parameter {list(shape)}", None
        return None, {"fn": "values", "value": value}
    if not isinstance(value, InitVal):
        return f"cannot initialise from {value!r}", None
    if value.fn not in INIT_FUNCS:
        return f"unknown initialiser `{value.fn}` (known: {', '.join(INIT_FUNCS)})", None
    allowed = INIT_FUNCS[value.fn]
    args = dict(allowed)
    positional = [k for k in value.args if k.startswith("_")]
    for k, name in zip(positional, allowed):
        args[name] = value.args[k]
    for k, v in value.args.items():
        if k.startswith("_"):
            continue
        if k not in allowed:
            return f"`{value.fn}` has no argument `{k}`", None
        args[k] = v
    if len(positional) > len(allowed):
        return f"`{value.fn}` takes {len(allowed)} argument(s)", None
    if value.fn.startswith("kaiming"):
        if args["nonlinearity"] not in _GAINS and args["nonlinearity"] != "leaky_relu":
            return (f"`{value.fn}`: unknown nonlinearity `{args['nonlinearity']}` (known: "
                    f"{', '.join([*_GAINS, 'leaky_relu'])})"), None
        if args["mode"] not in ("fan_in", "fan_out"):
            return f"`{value.fn}`: mode is fan_in or fan_out, got `{args['mode']}`", None
    if value.fn.startswith(("xavier", "kaiming")) and len(shape) < 2:
        return f"`{value.fn}` needs a parameter of rank 2 or more, this one is {list(shape)}", None
    return None, {"fn": value.fn, **args}


def leaf_nodes(nodes):
    """The nodes that own weights: a scan's body nodes stand for the scan node."""
    for n in nodes:
        body = getattr(n.op, "body", None)
        yield from (leaf_nodes(body.nodes) if body is not None else (n,))


def _nested_shape(v) -> tuple[int, ...] | None:
    """The shape of a nested list of numbers (no numpy: `dslc check` stays light), or None."""
    if not isinstance(v, list):
        return () if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    inner = [_nested_shape(x) for x in v]
    if not v or any(s is None or s != inner[0] for s in inner):
        return (0,) if not v else None
    return (len(v), *inner[0])


def check_init(value, shapes: dict[str, tuple[int, ...]]) -> tuple[str | None, dict]:
    """Validate an `init=` value against an op's parameters; returns (problem, {param: spec})."""
    if not shapes:
        return "this layer has no parameters", {}
    if not isinstance(value, dict):
        first = "weight" if "weight" in shapes else next(iter(shapes))
        value = {first: value}
    out = {}
    for k, v in value.items():
        if k not in shapes:
            return f"no parameter `{k}` (this layer has {', '.join(shapes)})", {}
        problem, spec = _normalise_one(v, shapes[k])
        if problem:
            return f"{k}: {problem}", {}
        out[k] = spec
    return None, out


def draw(spec: dict, shape: tuple[int, ...], rng):
    import numpy as np
    fn = spec["fn"]
    if fn == "values":
        return np.asarray(spec["value"], dtype=np.float32).reshape(shape)
    if fn in ("zeros", "ones", "constant"):
        v = {"zeros": 0.0, "ones": 1.0}.get(fn, spec.get("value", 0.0))
        return np.full(shape, v, dtype=np.float32)
    if fn == "normal":
        return rng.normal(spec["mean"], spec["std"], size=shape).astype(np.float32)
    if fn == "uniform":
        return rng.uniform(spec["a"], spec["b"], size=shape).astype(np.float32)
    fan_in, fan_out = _fans(shape)
    if fn.startswith("xavier"):
        std = spec["gain"] * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        fan = fan_in if spec["mode"] == "fan_in" else fan_out
        std = _gain(spec["nonlinearity"], spec["a"]) / math.sqrt(fan)
    if fn.endswith("uniform"):
        bound = math.sqrt(3.0) * std
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return rng.normal(0.0, std, size=shape).astype(np.float32)


def _rng(seed: int, name: str):
    import numpy as np
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def init_weights(model, seed: int = 0) -> dict:
    """Every parameter and buffer of the model (numpy arrays), by its dotted name."""
    import numpy as np
    out: dict[str, np.ndarray] = {}
    for node in leaf_nodes(model.nodes):
        shapes = {**node.op.params(*node.in_types), **node.op.buffers(*node.in_types)}
        for local, shape in shapes.items():
            full = node.pname(local)
            if full in out:
                continue
            rng = _rng(seed, full)
            spec = node.init.get(local)
            out[full] = draw(spec, shape, rng) if spec else \
                np.asarray(node.op.init(local, shape, node.in_types, rng), dtype=np.float32)
    return out
