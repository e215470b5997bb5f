"""Prove every symbolic size positive over the declared domain of the input symbols.

Each symbol ranges over the multiples of its modulus within [min, max] (`where H % 32 == 0,
H >= 32`; without constraints: every size >= 1). The shape rules are monotone in each input
size, so a size that is >= 1 at the smallest allowed values is >= 1 everywhere; where it is not,
the smallest value that works is found and reported."""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..ir.dims import Requirement, fmt_shape
from ..limits import SIZE_SEARCH

def smallest(c: dict) -> int:
    mod, lo = c.get("mod", 1), max(0, c.get("min", 1))
    return -(-lo // mod) * mod


def _first_ok(d, env: dict, sym: str, mod: int) -> int | None:
    """The smallest allowed value of `sym` (env[sym] + k * mod) that makes `d` >= 1, the others
    held at env: `d` is monotone in each size, so a doubling search then a bisection find it in
    O(log) evaluations, however large the kernels."""
    def ok(k):
        return d.evaluate({**env, sym: env[sym] + k * mod}) >= 1
    hi = 1
    while not ok(hi):
        if env[sym] + hi * mod > SIZE_SEARCH:
            return None
        hi *= 2
    lo = hi // 2          # ok(hi); not ok(lo) unless lo == 0, which the caller ruled out
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return env[sym] + hi * mod


def minimum_sizes(model, constraints: dict[str, dict]) -> dict[str, int | None]:
    """The smallest allowed value of each symbol at which every size the model computes from
    it alone is >= 1 (the whole chain at once, not layer by layer), the other symbols at their
    smallest; None when no value up to SIZE_SEARCH works. Sizes of several symbols are left to
    check_domain's message. Raising a value never shrinks a size (monotone rules), so raising
    each symbol to what its failing sizes need reaches the fixed point in a few rounds."""
    need = {s: smallest(constraints.get(s, {})) for s in model.symbols()}
    single = [d for node in model.nodes for t in node.out_types for d in t.shape
              if not d.is_const() and len(d.symbols()) == 1]
    changed = True
    while changed:
        changed = False
        for d in single:
            (sym,) = d.symbols()
            if need[sym] is None or d.evaluate(need) >= 1:
                continue
            need[sym] = _first_ok(d, need, sym, constraints.get(sym, {}).get("mod", 1))
            if need[sym] is None:
                break
            changed = True
    return need


def check_domain(model, constraints: dict[str, dict]) -> list[Diagnostic]:
    env = {s: smallest(constraints.get(s, {})) for s in model.symbols()}
    whole = None          # minimum_sizes, computed at the first failure only
    out, reported, seen = [], set(), set()
    for node in model.nodes:
        for t in node.out_types:
            for d in t.shape:
                if id(d) in seen:       # layers pass their sizes on: each Dim object once
                    continue
                seen.add(id(d))
                if d.is_const() or not d.symbols() - reported or d.evaluate(env) >= 1:
                    continue
                reported |= d.symbols()
                whole = whole or minimum_sizes(model, constraints)
                at = ", ".join(f"{s} = {env[s]}" for s in sorted(d.symbols()))
                needs = {s: (whole[s] if len(d.symbols()) == 1 else
                             _first_ok(d, env, s, constraints.get(s, {}).get("mod", 1)))
                         for s in sorted(d.symbols())}
                requires = tuple(Requirement(s, "min", v) for s, v in needs.items() if v is not None)
                fix = " or ".join(map(str, requires))
                whole_chain = " (the smallest every layer accepts)" if len(d.symbols()) == 1 else ""
                out.append(Diagnostic(
                    "E303", f"{node.kind}: size `{d}` of its output {fmt_shape(t.shape)} is "
                    f"{d.evaluate(env)} when {at}"
                    + (f"; valid only when {fix}{whole_chain}" if fix else ""),
                    node.span, expected="a size of at least 1 for every allowed input size",
                    got=f"{d.evaluate(env)} at {at}",
                    notes=tuple((s, "in the block called here") for s in reversed(node.call_sites)),
                    requires=requires,
                    help=f"declare the range on the input: `where {fix.split(' or ')[0]}`" if fix
                    else f"no input size up to {SIZE_SEARCH:,} makes this layer fit: check the "
                    "kernel sizes and strides"))
    return out
