"""Grammar-based spec generation for fuzzing: well-formed `.dl` text built from the op
registry itself, so every op is reached with arguments of the types its fields declare.

`generate(rng)` writes one spec: 1-3 inputs of random dtype and rank (fixed sizes, symbols,
`where` constraints), an optional block with a residual `if`, and statements that pipe a value
through 1-5 random ops (`x -> op(args)`), call a multi-input op on several values, combine two
values with arithmetic, repeat a block (`-> B(8) * 3`), or reuse a block; then 1-2 outputs.
Arguments follow each field's annotation (int, float, bool, Literal choices, tuples, strings)
drawn mostly from small plausible values and sometimes from edge values (0, -1, huge). Most
specs are wrong somewhere; all of them must check without an exception, quickly.
Used by benchmarks/fuzz.py (`--grammar`) and tests/test_fuzz.py (driven by hypothesis)."""
from __future__ import annotations

import random
import typing

INTS = [1, 2, 3, 4, 8, 16, 0, -1, 5, 7, 64, 2 ** 31, 10 ** 12]
FLOATS = [0.5, 0.1, 1.0, 2.0, 0.0, -1.0, 1e-5, 1e30, 1.5]
DTYPES = ["f32", "f32", "f32", "f16", "i64", "bool", "f64"]
SYMBOLS = ["N", "T", "H", "W", "C", "D"]


def _ops():
    from dslc.ops import OPS
    return sorted(OPS)


def _pick(rng: random.Random, pool: list, edge: float = 0.15):
    """Mostly from the plausible head of `pool` (its first 6), sometimes from anywhere."""
    return rng.choice(pool if rng.random() < edge else pool[:6])


def _value(rng: random.Random, ann, depth: int = 0) -> str | None:
    """A literal for a field annotated `ann` (None: the generator cannot write one)."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _value(rng, args[0], depth)
    if origin is typing.Union:
        options = [a for a in args if a is not type(None)]
        return _value(rng, rng.choice(options), depth) if options else None
    if origin is typing.Literal:
        return rng.choice([str(a).lower() if isinstance(a, bool) else str(a) for a in args])
    if origin is tuple and depth < 2:
        inner = args[0] if args else int
        n = rng.choice([1, 2, 2, 3]) if args[-1:] == (Ellipsis,) or not args else len(args)
        items = [_value(rng, inner if args[-1:] == (Ellipsis,) or not args else args[i], depth + 1)
                 for i in range(n)]
        return None if None in items else f"({', '.join(items)}{',' if n == 1 else ''})"
    if ann is bool:
        return rng.choice(["true", "false"])
    if ann is int:
        return str(_pick(rng, INTS))
    if ann is float:
        return str(_pick(rng, FLOATS))
    if ann is str:
        return rng.choice(["same", "valid", "ij,jk->ik", "bij,bjk->bik", "x"])
    if getattr(ann, "__name__", "") == "Dim":
        return rng.choice(["N", "-1", "4", "T", "2 * H"])
    return None


def _call(rng: random.Random, kind: str, cls, values: list[str]) -> str:
    """`kind(args)`: the positional fields first, then some keyword fields."""
    fields = {k: f.annotation for k, f in cls.model_fields.items() if k not in cls.tensor_args}
    args = []
    required = [k for k, f in cls.model_fields.items() if f.is_required()]
    for k in cls.positional:
        if k in fields and (k in required or rng.random() < 0.5):
            v = _value(rng, fields[k])
            if v is None:
                break
            args.append(v)
        else:
            break
    if cls.varargs:
        args += [str(_pick(rng, INTS)) if rng.random() < 0.7 else rng.choice(["N", "-1", "T"])
                 for _ in range(rng.randint(1, 4))]
    for k in rng.sample(sorted(fields), k=min(len(fields), rng.choice([0, 0, 1, 2]))):
        if k in cls.positional[:len(args)] or (cls.varargs and k == cls.varargs):
            continue
        v = _value(rng, fields[k])
        if v is not None:
            args.append(f"{k}={v}")
    for k in cls.tensor_args:
        if values and rng.random() < 0.2:
            args.append(f"{k}={rng.choice(values)}")
    return f"{kind}({', '.join(args)})" if args else kind


def _shape(rng: random.Random) -> tuple[str, list[str]]:
    rank = rng.choice([1, 2, 2, 3, 3, 4, 4, 5])
    dims = ["N"] + [rng.choice([str(_pick(rng, [4, 8, 3, 16, 1, 32, 0, 2 ** 40])),
                                rng.choice(SYMBOLS[1:])]) for _ in range(rank - 1)]
    return rng.choice(DTYPES), dims[:rank]


def generate(rng: random.Random) -> str:
    ops = _ops()
    from dslc.ops import OPS
    lines, values = [], []
    if rng.random() < 0.5:
        op = rng.choice(ops)
        lines += ["block Res(x, c: int = 4) {",
                  f"    h = x -> {_call(rng, op, OPS[op], ['x'])}",
                  "    return if c == 4 { x + h } else { h }", "}", ""]
    lines.append("model Gen {")
    for i in range(rng.randint(1, 3)):
        dtype, dims = _shape(rng)
        where = ""
        syms = sorted({d for d in dims if d.isalpha() and d != "N"})
        if syms and rng.random() < 0.3:
            s = rng.choice(syms)
            where = " where " + rng.choice([f"{s} % 8 == 0", f"{s} >= 4", f"{s} <= 255"])
        name = f"x{i}"
        lines.append(f"    input {name}: {dtype}[{', '.join(dims)}]{where}")
        values.append(name)
    for i in range(rng.randint(1, 5)):
        kind = rng.random()
        src = rng.choice(values)
        if kind < 0.6:
            chain = [_call(rng, op, OPS[op], values) for op in rng.choices(ops, k=rng.randint(1, 5))]
            expr = " -> ".join([src] + chain)
        elif kind < 0.75 and len(values) > 1:
            op = rng.choice(["concat", "add", "matmul", "stack", "einsum"])
            if op not in OPS:
                continue
            expr = f"{_call(rng, op, OPS[op], values).split('(')[0]}(" + \
                ", ".join(rng.sample(values, k=2) + ([f"axis={rng.choice([0, 1, -1])}"]
                                                      if op in ("concat", "stack") else [])) + ")"
        elif kind < 0.9:
            expr = f"{src} {rng.choice(['+', '-', '*', '/', '@'])} {rng.choice(values)}"
        elif lines[0].startswith("block"):
            expr = f"{src} -> Res({_pick(rng, INTS)})" + (f" * {_pick(rng, INTS)}" if rng.random() < 0.5 else "")
        else:
            expr = f"{src} -> relu"
        name = f"v{i}"
        lines.append(f"    {name} = {expr}")
        values.append(name)
    for i, v in enumerate(rng.sample(values[-3:], k=min(len(values[-3:]), rng.choice([1, 1, 2])))):
        lines.append(f"    output y{i} = {v}")
    lines.append("}")
    return "\n".join(lines) + "\n"
