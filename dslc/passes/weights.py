"""Weights (numpy is imported lazily: `dslc check` never needs it): deterministic from a seed, torch-default unless the spec says `init=`.

Each tensor draws from its own generator, seeded by (seed, its name), so adding a layer never
changes the weights of the others. The same arrays feed both backends.
"""
from __future__ import annotations

import re

import math
import zlib
from collections.abc import Mapping
from math import prod

from ..ir.core import InitVal

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
        if not math.isfinite(value):
            return f"an initial value must be finite, got {value}", None
        return None, {"fn": "constant", "value": float(value)}
    if isinstance(value, list):
        got = _nested_shape(value)
        if got != tuple(shape):
            what = f"shape {list(got)}" if got is not None else "ragged, non-numeric or non-finite rows"
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
    for k, v in args.items():
        if k in ("mode", "nonlinearity"):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"`{value.fn}`: `{k}` must be a finite number, got {v!r}", None
    if args.get("std", 0) < 0 or args.get("gain", 0) < 0:
        return f"`{value.fn}`: a standard deviation or gain cannot be negative", None
    if value.fn == "uniform" and args["a"] > args["b"]:
        return f"`uniform`: a = {args['a']} is above b = {args['b']}", None
    return None, {"fn": value.fn, **args}


def leaf_nodes(model):
    """The nodes that own weights: a scan's body nodes stand for the scan node."""
    return (n for n in model.walk() if not n.op.regions)


def _nested_shape(v) -> tuple[int, ...] | None:
    """The shape of a nested list of numbers (no numpy: `dslc check` stays light), or None."""
    if not isinstance(v, list):
        return () if isinstance(v, (int, float)) and not isinstance(v, bool) \
            and math.isfinite(v) else None
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


def init_weights(model, seed: int = 0, max_memory: int | None = None) -> dict:
    """Every parameter and buffer of the model (numpy arrays), by its dotted name. Refused
    first (memory.TooLarge) when the draw would not fit in `max_memory` bytes (None: the
    memory available) or a tensor is over 2**40 elements."""
    from ..checks.memory import check_memory
    check_memory(model, max_memory)
    return dict(Drawn(model, seed))


class Drawn(Mapping):
    """The model's weights, each drawn when it is read (from its own generator: the values do
    not depend on the order), so a builder that writes each tensor out as it goes holds one
    at a time. `dict(Drawn(model, seed))` is init_weights' result."""

    def __init__(self, model, seed: int = 0):
        self.seed, self._where = seed, {}
        for node in leaf_nodes(model):
            shapes = {**node.op.params(*node.in_types), **node.op.buffers(*node.in_types)}
            for local, shape in shapes.items():
                self._where.setdefault(node.pname(local), (node, local, tuple(shape)))

    def __getitem__(self, name: str):
        import numpy as np
        node, local, shape = self._where[name]
        rng, spec = _rng(self.seed, name), node.init.get(local)
        source = None if spec else node.op.derived(local)
        if source:                  # computed from another parameter's drawn value
            return source[1](self[node.pname(source[0])])
        return draw(spec, shape, rng) if spec else \
            np.asarray(node.op.init(local, shape, node.in_types, rng), dtype=np.float32)

    def shape(self, name: str) -> tuple[int, ...]:
        """One weight's shape, known without drawing it."""
        return self._where[name][2]

    def size(self, name: str) -> int:
        """The elements of one weight, known without drawing it."""
        return prod(self.shape(name))

    def __contains__(self, name) -> bool:     # Mapping's own would draw the weight
        return name in self._where

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


class WeightsError(ValueError):
    """Weights that do not fit a model: `missing`, `extra` (names), `misshaped` (name ->
    (given shape, expected shape)) and `not_float` (name -> the given dtype)."""

    SHOWN = 8           # names listed per kind in the message; the attributes hold them all

    def __init__(self, model: str, missing, extra, misshaped, not_float, hint: str = "",
                 overflowing=None):
        self.model, self.missing, self.extra = model, list(missing), list(extra)
        self.misshaped, self.not_float = dict(misshaped), dict(not_float)
        self.overflowing = dict(overflowing or {})
        parts = [self._kind("missing", self.missing), self._kind("extra", self.extra),
                 self._kind("mis-shaped", [f"{k} {list(g)} (expected {list(w)})"
                                           for k, (g, w) in self.misshaped.items()]),
                 self._kind("not floating-point", [f"{k} ({d})" for k, d in self.not_float.items()]),
                 self._kind("beyond their dtype (inf once cast)",
                            [f"{k} holds {v:.3g}, over {dt}'s largest {_largest(dt):.5g}"
                             for k, (v, dt) in self.overflowing.items()])]
        super().__init__(f"the weights do not fit model {model}: "
                         + "; ".join(p for p in parts if p) + (f" ({hint})" if hint else ""))

    def _kind(self, what: str, items: list[str]) -> str:
        if not items:
            return ""
        more = f" and {len(items) - self.SHOWN} more" if len(items) > self.SHOWN else ""
        return f"{len(items)} {what}: {', '.join(items[:self.SHOWN])}{more}"


# torch's BatchNorm counts its training steps in a buffer the IR does not model (no backend
# computes with it): a state_dict may carry it beside the running statistics.
TORCH_COUNTER = "num_batches_tracked"


def check_weights(model, weights: dict) -> None:
    """Every parameter and buffer of the model is in `weights` (numpy arrays or torch
    tensors, by dotted name) with exactly its shape and a floating-point dtype; no other key
    is there except torch's `X.num_batches_tracked` beside an expected `X.running_mean`.
    WeightsError lists every problem by name."""
    expected = {**model.param_shapes(), **model.buffer_shapes()}
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected and not _counter(k, expected)]
    misshaped, not_float = {}, {}
    for k, want in expected.items():
        if k not in weights:
            continue
        shape, dtype, floating = _describe(weights[k])
        if shape != tuple(want):
            misshaped[k] = (shape, tuple(want))
        if not floating:
            not_float[k] = dtype
    overflowing = {} if misshaped or not_float else _overflowing(model, weights)
    if missing or extra or misshaped or not_float or overflowing:
        raise WeightsError(model.name, missing, extra, misshaped, not_float,
                           _prefix_hint(missing, extra)
                           or _renumbered_hint(missing, extra, misshaped), overflowing)


def _largest(dtype: str) -> float:
    import numpy as np
    return {"f16": float(np.finfo(np.float16).max), "bf16": 3.3895313892515355e38,
            "f32": float(np.finfo(np.float32).max)}.get(dtype, float("inf"))


def _overflowing(model, weights: dict) -> dict[str, tuple[float, str]]:
    """name -> (its largest magnitude, dtype) for a given weight whose finite values would
    become inf in the dtype the model keeps it in (--dtype f16: 65,504 at most)."""
    import numpy as np
    out = {}
    for n in leaf_nodes(model):
        dt = n.param_dtype
        if dt == "f64":         # f32 values fit f32; only a cast down to a half type or from f64
            continue
        for local in (*n.op.params(*n.in_types), *n.op.buffers(*n.in_types)):
            name = n.pname(local)
            v = weights.get(name)
            if v is None or name in out:
                continue
            if dt == "f32" and _describe(v)[1] != "float64":
                continue
            a = v.detach().cpu().double().numpy() if hasattr(v, "detach") else np.asarray(v)
            if a.size and a.dtype.kind == "f":
                finite = np.abs(a[np.isfinite(a)])
                most = float(finite.max()) if finite.size else 0.0
                if most > _largest(dt):
                    out[name] = (most, dt)
    return out


def _counter(key: str, expected) -> bool:
    head, _, leaf = key.rpartition(".")
    return leaf == TORCH_COUNTER and f"{head}.running_mean" in expected


def _describe(value) -> tuple[tuple, str, bool]:
    """(shape, dtype name, floating?) of a torch tensor or anything numpy takes."""
    if hasattr(value, "is_floating_point") and hasattr(value, "shape"):      # torch
        return tuple(value.shape), str(value.dtype).removeprefix("torch."), value.is_floating_point()
    import numpy as np
    try:
        a = np.asarray(value)
    except (ValueError, TypeError):
        return (), type(value).__name__, False
    return a.shape, a.dtype.name, a.dtype.kind == "f" or a.dtype.name == "bfloat16"


def _prefix_hint(missing, extra) -> str:
    """A note when every missing name is an extra one less a common prefix (the state_dict of
    a wrapper: `module.` from DataParallel, `model.` from a training harness)."""
    for e in extra:
        if missing and e.endswith("." + missing[0]):
            prefix = e[: len(e) - len(missing[0])]
            if all(prefix + k in extra for k in missing):
                return f"the given names carry the prefix `{prefix}`: strip it"
    return ""


def _renumbered_hint(missing, extra, misshaped) -> str:
    """A note when the names that do not fit differ only in an automatic layer number
    (`dense_3.weight` missing, `dense_2.weight` of another shape): a layer inserted or removed
    before them renumbered the automatic names of its kind."""
    def kinds(names):
        return {re.sub(r"(^|\.)([a-z0-9_]+?)_\d+(?=\.)", r"\1\2_#", k) for k in names}
    others = list(extra) + list(misshaped)
    if missing and others and kinds(missing) <= kinds(others):
        return ("the names differ only in their automatic layer numbers: a layer inserted or "
                "removed before them renumbers its kind; give those layers name= to keep their "
                "names; `dslc diff OLD.dl NEW.dl` lists the renamed ones")
    return ""
