"""Fuzzing strategies that look where the token mutations of fuzz.py do not (issue 23): each is
`strategy(rng, corpus) -> text`, with corpus a list of (name, spec text).

- `derive`: a random derivation of grammar/dslc.lark itself (its rules as lark built them),
  names drawn from the op registry, the ops' fields and the usual symbols, numbers from the
  edges; past a depth each nonterminal takes its shortest expansion, so every text is finite.
  One text in ten gets an invisible separator (form feed, U+2028, NUL, ...) inside a token.
- `splice`: the head of one spec and the tail of another, cut at line boundaries, or a line of
  one spec inserted into another.
- `semantic`: replacements that keep the spec parsing (a name by another name, an op by another
  op, a keyword by another field, a number by an edge number, a statement repeated): up to five
  tries for a text that parses.
- `numeric`: every number of a spec (or a few) replaced by edge values and edge expressions
  (`N // 0`, `(10 ** 64) ** 64`, a 120-digit literal, 1e308, 1e-320).
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

NUMBERS = ["0", "1", "-1", "2", "3", "8", "64", "2147483648", "9223372036854775808",
           "4611686018427387904", "1" + "0" * 30, "9" * 120, "1e308", "1e999", "1e-320", "0.0",
           "0.5", "-0.0", "1_000"]
EXPRESSIONS = ["N // 0", "0 // 0", "(10 ** 64) ** 64", "2 ** 64", "-N", "N - N", "C // 0",
               "N / 0", "1e308 * 10", "8 % 0", "N * 0", "H // -1"]
SYMBOLS = ["x", "y", "N", "C", "H", "W", "T", "B", "k", "width", "stride", "image", "seq"]
SEPARATORS = ["\x0c", "\x0b", "\u2028", "\u2029", "\x85", "\x00", "\x1c", "\ufeff", "\r"]
NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?(?![\w.])")
WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
COMMENT = re.compile(r"#[^\n]*")
DEPTH = 8


@lru_cache(maxsize=1)
def _grammar():
    """(rules by nonterminal, terminal patterns, each nonterminal's shortest expansion)."""
    from dslc.syntax.parser import _parser
    p = _parser()
    rules: dict[str, list[list]] = {}
    for r in p.rules:
        rules.setdefault(r.origin.name, []).append(list(r.expansion))
    literal = {t.name: t.pattern.value for t in p.terminals if t.pattern.type == "str"}
    cost = {name: float("inf") for name in rules}
    changed = True
    while changed:                  # the fewest derivation steps to terminals, by fixpoint
        changed = False
        for name, options in rules.items():
            best = min(1 + sum(cost.get(s.name, 0) if not s.is_term else 0 for s in o)
                       for o in options)
            if best < cost[name]:
                cost[name], changed = best, True
    shortest = {name: min(options, key=lambda o: sum(cost.get(s.name, 0) for s in o
                                                     if not s.is_term))
                for name, options in rules.items()}
    return rules, literal, shortest


@lru_cache(maxsize=1)
def _names() -> tuple[list[str], list[str]]:
    """(op kinds, the ops' field names)."""
    from dslc.ops import OPS
    fields = sorted({f for cls in OPS.values() for f in cls.model_fields})
    return sorted(OPS), fields


def _terminal(rng: random.Random, name: str, literal: dict) -> str:
    if name in literal:
        return literal[name]
    ops, fields = _names()
    if name == "NAME":
        return rng.choice([rng.choice(ops), rng.choice(fields), rng.choice(SYMBOLS)])
    if name in ("INT", "FLOAT"):
        pool = [n for n in NUMBERS if ("." in n or "e" in n) == (name == "FLOAT")]
        return rng.choice(pool)
    if name == "STRING":
        return rng.choice(['"same"', '"ij,jk->ik"', '""', '"lib.dl"', "'x'", '"' + "a" * 200 + '"'])
    return rng.choice({"CMP_OP": ["==", "!=", "<", ">=", "<=", ">"], "ADD_OP": ["+", "-"],
                       "MUL_OP": ["*", "//", "/", "%", "@"]}.get(name, [" "]))


def derive(rng: random.Random, corpus=None) -> str:
    rules, literal, shortest = _grammar()
    out: list[str] = []
    stack = [("start", 0)]
    while stack:                    # iterative: a deep derivation is no Python recursion
        sym, depth = stack.pop()
        if sym not in rules:
            out.append(_terminal(rng, sym, literal))
            continue
        expansion = shortest[sym] if depth > DEPTH else rng.choice(rules[sym])
        if sym == "start" and not expansion:
            expansion = rng.choice([o for o in rules[sym] if o] or [expansion])
        stack.extend((s.name, depth + 1) for s in reversed(expansion))
    text = " ".join(out)
    if rng.random() < 0.1 and text:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(SEPARATORS) + text[i:]
    return text + "\n"


def splice(rng: random.Random, corpus) -> str:
    a = rng.choice(corpus)[1].split("\n")
    b = rng.choice(corpus)[1].split("\n")
    if rng.random() < 0.5:
        return "\n".join(a[:rng.randint(0, len(a))] + b[rng.randint(0, len(b)):])
    i = rng.randint(0, len(a))
    return "\n".join(a[:i] + [rng.choice(b)] + a[i:])


def semantic(rng: random.Random, corpus) -> str:
    from dslc.syntax.parser import parse
    text = COMMENT.sub("", rng.choice(corpus)[1])
    candidate = text
    for _ in range(5):
        candidate = text
        for _ in range(rng.randint(1, 3)):
            candidate = _replace(rng, candidate)
        if parse(candidate)[0] is not None:
            break
    return candidate


def _replace(rng: random.Random, text: str) -> str:
    """One replacement that keeps the token classes: a name, an op, a keyword, a number, a line."""
    ops, fields = _names()
    kind = rng.random()
    if kind < 0.2:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        return "\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
    pattern = NUMBER if kind < 0.5 else WORD
    spots = list(pattern.finditer(text))
    if not spots:
        return text
    m = rng.choice(spots)
    if pattern is NUMBER:
        new = rng.choice(NUMBERS)
    elif text[m.end():m.end() + 1] == "(" and m.group() in ops:
        new = rng.choice(ops)
    elif text[m.end():m.end() + 1] == "=" and text[m.end():m.end() + 2] != "==":
        new = rng.choice(fields)
    else:
        new = rng.choice(sorted(set(WORD.findall(text))) + SYMBOLS)
    return text[:m.start()] + new + text[m.end():]


def numeric(rng: random.Random, corpus) -> str:
    text = COMMENT.sub("", rng.choice(corpus)[1])
    spots = list(NUMBER.finditer(text))
    if not spots:
        return text
    chosen = spots if rng.random() < 0.2 else rng.sample(spots, min(len(spots), rng.randint(1, 3)))
    for m in sorted(chosen, key=lambda m: -m.start()):
        new = rng.choice(EXPRESSIONS if rng.random() < 0.3 else NUMBERS)
        text = text[:m.start()] + (f"({new})" if " " in new else new) + text[m.end():]
    return text


STRATEGIES = {"derive": derive, "splice": splice, "semantic": semantic, "numeric": numeric}
