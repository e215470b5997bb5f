"""Prove every symbolic size positive over the declared domain of the input symbols.

Each symbol ranges over the multiples of its modulus within [min, max] (`where H % 32 == 0,
H >= 32`; without constraints: every size >= 1). The shape rules are monotone in each input
size, so a size that is >= 1 at the smallest allowed values is >= 1 everywhere; where it is not,
the smallest value that works is found and reported."""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..dims import fmt_shape

SCAN_LIMIT = 1 << 16


def smallest(c: dict) -> int:
    mod, lo = c.get("mod", 1), max(1, c.get("min", 1))
    return -(-lo // mod) * mod


def _first_ok(d, env: dict, sym: str, mod: int) -> int | None:
    v = env[sym]
    while v <= SCAN_LIMIT:
        if d.evaluate({**env, sym: v}) >= 1:
            return v
        v += mod
    return None


def check_domain(model, constraints: dict[str, dict]) -> list[Diagnostic]:
    env = {s: smallest(constraints.get(s, {})) for s in model.symbols()}
    out, reported = [], set()
    for node in model.nodes:
        for t in node.out_types:
            for d in t.shape:
                if d.is_const() or not d.symbols() - reported or d.evaluate(env) >= 1:
                    continue
                reported |= d.symbols()
                at = ", ".join(f"{s} = {env[s]}" for s in sorted(d.symbols()))
                needs = {s: _first_ok(d, env, s, constraints.get(s, {}).get("mod", 1))
                         for s in sorted(d.symbols())}
                fix = " or ".join(f"{s} >= {v}" for s, v in needs.items() if v is not None)
                out.append(Diagnostic(
                    "E303", f"{node.kind}: size `{d}` of its output {fmt_shape(t.shape)} is "
                    f"{d.evaluate(env)} when {at}" + (f"; valid only when {fix}" if fix else ""),
                    node.span, expected="a size of at least 1 for every allowed input size",
                    got=f"{d.evaluate(env)} at {at}",
                    notes=tuple((s, "in the block called here") for s in reversed(node.call_sites)),
                    help=f"declare the range on the input: `where {fix.split(' or ')[0]}`" if fix
                    else "no input size makes this layer fit: check the kernel sizes and strides"))
    return out
