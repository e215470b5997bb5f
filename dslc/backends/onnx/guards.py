"""Opt-in input guards in the ONNX graph (`to_onnx(guards=True)`, `dslc compile --guards`).

onnxruntime itself checks each input's rank, dtype and fixed sizes against the graph's input
types; it does not check that one symbol has one value across inputs, nor the spec's `where`
constraints. ONNX has no assertion operator, so each condition of dslc.checks.guards' rule that
onnxruntime leaves unchecked becomes a Reshape of a one-element token into a shape of [1]
when the condition holds and [-2] (invalid) when it fails: the run fails there, and
onnxruntime's error names the failing node, whose name is the condition's message
(`dslc guard: H (input x axis 2) must satisfy H % 8 == 0, H >= 1`). The values of an input
a layer indexes or counts with (dslc.checks.guards.Range: embedding ids, gather indices,
recurrent lengths) are checked too, by their least and greatest element. Every input then passes
through a Reshape to its own shape plus the token (zeros), so the guards run before any layer.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

from onnx import TensorProto

from ...checks.guards import describe, signature
from .lowering import dims_tensor

PREFIX = "dslc guard: "


def emit_guards(b, model) -> dict[str, str]:
    """Emit the guards of `model` into builder `b`; returns {input value: its guarded value}
    (empty when no condition is left to check)."""
    sig = signature(model)
    names = [p.value for p in model.inputs]
    where = lambda k, axis: f"input {names[k]} axis {axis}"
    reader = SimpleNamespace(name="guard", in_types=tuple(p.type for p in model.inputs))
    sources = sig.sources()

    def size(k, axis):
        return b.node("Shape", [names[k]], name="guard.shape", start=axis, end=axis + 1)[0]

    conditions = []             # (bool tensor, message)
    value = {s: size(k, axis) for s, (k, axis) in sources.items()}
    for k, slot in enumerate(sig.slots):
        for axis, d in enumerate(slot.dims):
            if d.is_const() or (d.is_atom() and sources[str(d)] == (k, axis)):
                continue
            want = value[str(d)] if d.is_atom() else dims_tensor(b, reader, names, [d])
            ok = b.node("Equal", [size(k, axis), want], name="guard.equal")[0]
            conditions.append((ok, f"{where(k, axis)} must equal {d}" + (
                f" ({where(*sources[str(d)])})" if d.is_atom() else "")))
    for s, (k, axis) in sources.items():
        c = sig.constraints.get(s, {})
        checks = [b.node("GreaterOrEqual", [value[s], b.ints([c.get("min", 1)])], name="guard.min")[0]]
        if c.get("mod", 1) > 1:
            rem = b.node("Mod", [value[s], b.ints([c["mod"]])], name="guard.mod")[0]
            checks.append(b.node("Equal", [rem, b.ints([0])], name="guard.mod_zero")[0])
        if "max" in c:
            checks.append(b.node("LessOrEqual", [value[s], b.ints([c["max"]])], name="guard.max")[0])
        ok = checks[0]
        for more in checks[1:]:
            ok = b.node("And", [ok, more], name="guard.and")[0]
        conditions.append((ok, f"{s} ({where(k, axis)}) must satisfy {describe(s, c)}"))
    ports = {p.name: p.value for p in model.inputs}
    for r in sig.ranges:                # ids, indices and lengths: ONNX Gather wraps a negative
        x = ports[r.input]
        for reduce, bound, test, word in (("ReduceMin", r.low, "GreaterOrEqual", ">="),
                                          ("ReduceMax", r.high, "LessOrEqual", "<=")):
            most = b.node(reduce, [x], name="guard.range", keepdims=1)[0]
            flat = b.node("Reshape", [most, b.ints([1])], name="guard.range")[0]
            cast = b.node("Cast", [flat], name="guard.range_cast", to=TensorProto.INT64)[0]
            limit = b.ints([bound.value]) if bound.is_const() else dims_tensor(b, reader, names, [bound])
            conditions.append((b.node(test, [cast, limit], name="guard.range")[0],
                               f"input {r.input} must be {word} {bound} ({r.what})"))
    if not conditions:
        return {}
    token = b.ints([0], "guard_token")
    good, bad = b.ints([1], "guard_ok_shape"), b.ints([-2], "guard_failed_shape")
    for ok, message in conditions:
        shape = b.node("Where", [ok, good, bad], name="guard.select")[0]
        token = b.node("Reshape", [token, shape], name=PREFIX + message)[0]
    out = {}
    for x in names:
        shape = b.node("Shape", [x], name="guard.input_shape")[0]
        gated = b.node("Add", [shape, token], name="guard.gate")[0]
        out[x] = b.node("Reshape", [x, gated], [b.fresh(f"{x}.checked")], name="guard.pass")[0]
    return out


def guard_message(error_text: str) -> str | None:
    """The condition of the guard an onnxruntime error comes from, or None."""
    m = re.search(r"Name:'" + re.escape(PREFIX) + r"([^']*)'", error_text)
    return m.group(1) if m else None

