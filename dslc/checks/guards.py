"""The checks at a compiled model's input boundary, in one place: `dslc run` (--dim and
--input), the torch module's forward, and the ONNX graph's opt-in guards all derive from here.

The rule: every input has the rank, the dtype and the fixed sizes its declaration states; each
symbol takes one value, read from the first input axis that is exactly that symbol (or given
up front, as `--dim` does), and every other axis naming it (a compound size like `2*H` too)
agrees with that value; each symbol's value lies in its domain: >= 1, and the `where`
constraints of the spec (`H % 8 == 0`, `T <= 255`). The core imports neither torch nor onnx.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.dims import Dim
from .domain import smallest


class InputError(ValueError):
    """Inputs that do not fit the model's declared types: `problems` lists each one."""

    def __init__(self, model: str, problems: list[str]):
        self.model, self.problems = model, list(problems)
        super().__init__(f"the inputs do not fit model {model}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class Slot:
    """One model input as the boundary sees it: `dims` holds a Dim per axis, or None for an
    axis that is not checked (an ONNX file's dim named by an expression dslc cannot read)."""
    name: str
    dtype: str | None
    dims: tuple[Dim | None, ...]


@dataclass(frozen=True)
class Range:
    """The values an integer input may hold, because a layer indexes or counts with them: the
    ids of an embedding (0 to num_embeddings - 1), the indices of gather and index_select (0
    to the axis' size - 1), the lengths of a recurrent layer (1 to T)."""
    input: str
    low: Dim
    high: Dim
    what: str


@dataclass(frozen=True)
class Signature:
    model: str
    slots: tuple[Slot, ...]
    constraints: dict = field(default_factory=dict)    # symbol -> {"mod", "min", "max"}
    ranges: tuple[Range, ...] = ()

    def sources(self) -> dict[str, tuple[int, int]]:
        """symbol -> (input index, axis) of the first axis that is exactly that symbol."""
        out: dict[str, tuple[int, int]] = {}
        for k, s in enumerate(self.slots):
            for axis, d in enumerate(s.dims):
                if d is not None and not d.is_const() and d.is_atom():
                    out.setdefault(str(d), (k, axis))
        return out

    def batch_symbols(self) -> set[str]:
        """The symbols first read from an axis 0: a batch gets its smallest allowed value when
        no input or --dim gives it."""
        return {s for s, (_, axis) in self.sources().items() if axis == 0}


def signature(model) -> Signature:
    """The boundary of an IR model: its input ports' types, its `where` constraints and the
    value ranges of the inputs that layers index or count with."""
    return Signature(model.name, tuple(Slot(p.name, p.type.dtype, tuple(p.type.shape))
                                       for p in model.inputs), dict(model.constraints),
                     value_ranges(model))


def value_ranges(model) -> tuple[Range, ...]:
    """A Range for each model input read directly as embedding ids, gather or index_select
    indices, or recurrent lengths (torch raises on an index out of range, ONNX Gather wraps a
    negative one, a length of 0 or over T is garbage)."""
    ports = {p.value: p.name for p in model.inputs}
    out = []
    for n in model.nodes:
        for index, low, high, what in _indexed(n):
            if n.inputs[index] in ports:
                out.append(Range(ports[n.inputs[index]], Dim.of(low), Dim.of(high),
                                 f"{what} of {n.op.kind} `{n.name}`"))
    return tuple(out)


def _indexed(n) -> list[tuple]:
    """(input index, lowest, highest, what the values are) of a node's integer inputs that
    must lie in a range."""
    if n.op.kind == "embedding":
        return [(0, 0, n.op.num_embeddings - 1, "the ids")]
    if n.op.kind in ("rnn", "gru", "lstm") and n.op.lengths:
        return [(1 + n.op.initial, 1, n.in_types[0].shape[1], "the lengths")]
    if n.op.kind in ("gather", "index_select"):        # torch takes no negative index either
        x = n.in_types[0]
        return [(1, 0, x.shape[n.op.axis % x.rank] - 1, "the indices")]
    return []


def check_values(sig: Signature, arrays: dict, env: dict[str, int]) -> None:
    """InputError if an input given in `arrays` (numpy or torch, by name) holds a value outside
    its Range under the symbols' values `env`."""
    problems = []
    for r in sig.ranges:
        x = arrays.get(r.input)
        if x is None or not _size(x):
            continue
        low, high = r.low.evaluate(env), r.high.evaluate(env)
        least, most = int(x.min()), int(x.max())
        if least < low or most > high:
            bad = least if least < low else most
            problems.append(f"input `{r.input}` holds {bad}, outside {low}..{high} ({r.what})")
    if problems:
        raise InputError(sig.model, problems)


def bounds(sig: Signature, env: dict[str, int]) -> dict[str, tuple[int, int]]:
    """input name -> (lowest, highest) allowed value under `env`, every Range of it applied."""
    out: dict[str, tuple[int, int]] = {}
    for r in sig.ranges:
        low, high = out.get(r.input, (r.low.evaluate(env), r.high.evaluate(env)))
        out[r.input] = (max(low, r.low.evaluate(env)), min(high, r.high.evaluate(env)))
    return out


def _size(x) -> int:
    return x.numel() if hasattr(x, "numel") else x.size


def describe(symbol: str, c: dict) -> str:
    """A symbol's domain as the spec states it: `H % 8 == 0, H >= 16, H <= 1024`."""
    parts = [f"{symbol} % {c['mod']} == 0"] if c.get("mod", 1) > 1 else []
    parts += [f"{symbol} >= {c.get('min', 1)}"]
    parts += [f"{symbol} <= {c['max']}"] if "max" in c else []
    return ", ".join(parts)


def domain_problem(symbol: str, value: int, c: dict) -> str | None:
    """Why `value` is outside the symbol's domain, or None."""
    mod, lo, hi = c.get("mod", 1), c.get("min", 1), c.get("max")
    if value % mod == 0 and value >= lo and (hi is None or value <= hi):
        return None
    return f"{symbol} = {value} is outside its domain ({describe(symbol, c)})"


def bind(sig: Signature, shapes: dict, dtypes: dict | None = None,
         given: dict[str, int] | None = None, given_by: str = "--dim") -> dict[str, int]:
    """The symbols' values (`given` first, then read from `shapes`: input name -> shape tuple,
    for the inputs at hand) after checking those inputs and values by the module's rule.
    `dtypes`: input name -> IR dtype, for the inputs whose dtype is to be checked. InputError
    lists every problem found."""
    problems: list[str] = []
    env = dict(given or {})
    origin = {s: given_by for s in env}
    at = [(k, s) for k, s in enumerate(sig.slots) if s.name in shapes]
    for _, s in at:
        shape, want = tuple(shapes[s.name]), (dtypes or {}).get(s.name)
        if want is not None and s.dtype is not None and want != s.dtype:
            problems.append(f"input `{s.name}` is {want}, declared {s.dtype}")
        if len(shape) != len(s.dims):
            problems.append(f"input `{s.name}` has rank {len(shape)} (shape {list(shape)}), "
                            f"declared rank {len(s.dims)} ({_fmt(s)})")
    ranked = [(k, s) for k, s in at if len(shapes[s.name]) == len(s.dims)]
    for _, s in ranked:                 # fixed sizes and symbols first, then compound sizes
        for axis, (d, n) in enumerate(zip(s.dims, shapes[s.name])):
            if d is None or not (d.is_const() or d.is_atom()):
                continue
            if d.is_const():
                if n != d.value:
                    problems.append(f"input `{s.name}` has size {n} at axis {axis}, declared "
                                    f"{d.value} ({_fmt(s)})")
                continue
            sym, here = str(d), f"input `{s.name}` axis {axis}"
            if sym not in env:
                env[sym], origin[sym] = int(n), here
            elif env[sym] != n:
                problems.append(f"{sym} is {env[sym]} by {origin[sym]} but {n} by {here}")
    for _, s in ranked:
        for axis, (d, n) in enumerate(zip(s.dims, shapes[s.name])):
            if d is None or d.is_const() or d.is_atom() or not d.symbols() <= set(env):
                continue
            want = d.evaluate(env)
            if want != n:
                problems.append(f"input `{s.name}` has size {n} at axis {axis}, where {d} = "
                                f"{want}")
    for sym, value in env.items():
        p = domain_problem(sym, value, sig.constraints.get(sym, {}))
        if p:
            problems.append(p + f" (by {origin[sym]})")
    if problems:
        raise InputError(sig.model, problems)
    return env


def complete(sig: Signature, env: dict[str, int], names) -> dict[str, tuple[int, ...]]:
    """The shapes of the inputs `names` under `env`, a batch symbol it lacks taking its
    smallest allowed value (an unnamed leading dim: 1). InputError names any other symbol
    still unknown (with its domain)."""
    env = dict(env)
    for b in sig.batch_symbols() - set(env):
        env[b] = smallest(sig.constraints.get(b, {}))
    slots = [Slot(s.name, s.dtype, tuple(Dim.of(1) if d is None and axis == 0 else d
                                         for axis, d in enumerate(s.dims)))
             for s in sig.slots if s.name in names]          # an unnamed leading dim: 1
    unknown = [x for s in slots for d in s.dims if d is not None
               for x in sorted(d.symbols()) if x not in env]
    for s in slots:
        if None in s.dims:
            raise InputError(sig.model, [f"input `{s.name}` has a size dslc cannot compute at "
                                         f"axis {s.dims.index(None)}: give its values with --input"])
    if unknown:
        first = unknown[0]
        raise InputError(sig.model, [
            f"give a value for the symbolic dim(s) {', '.join(dict.fromkeys(unknown))}, e.g. "
            f"--dim {first}={smallest(sig.constraints.get(first, {}))}"
            f" ({describe(first, sig.constraints.get(first, {}))})"])
    return {s.name: tuple(d.evaluate(env) for d in s.dims) for s in slots}


def _fmt(s: Slot) -> str:
    return f"{s.dtype or ''}[{', '.join('?' if d is None else str(d) for d in s.dims)}]"
