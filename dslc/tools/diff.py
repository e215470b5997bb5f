"""`dslc diff a.dl b.dl`: what changed between two models, layer by layer (IR only).

Layers are aligned by what they are, not by their names (an inserted layer renumbers the
automatic names after it): the two sequences of op descriptions (`conv2d(64, 3, padding=1)`) are
matched by a longest common subsequence, and a replaced run of the same length pairs up layer
by layer. Each row is `=` (same op, same output shape, same counts: not shown unless asked), `~` (changed: op,
shape or counts), `+` (only in b) or `-` (only in a). Blocks are folded below `depth` as
`dslc summary --depth` folds them, so a changed block is one row. Aligned layers with
parameters whose names differ are listed apart (`renamed`): an inserted layer renumbers the
automatic names after it, and a checkpoint of one model then does not load into the other."""
from __future__ import annotations

from ..ir.dims import Dim
from .summary import _columns, _fmt, grouped_rows, total_macs


def rows(a, b, depth: int | None = None, dims: dict | None = None) -> list[dict]:
    """The aligned rows: {"change", "a", "b"} with "a"/"b" a layer row (None where absent)."""
    ra = [_subs(r, dims) for r in grouped_rows(a, depth)]
    rb = [_subs(r, dims) for r in grouped_rows(b, depth)]
    out, i0, j0 = [], 0, 0
    for i, j in _lcs([r["op"] for r in ra], [r["op"] for r in rb]) + [(len(ra), len(rb))]:
        if i - i0 == j - j0:        # a run replaced by one as long: paired layer by layer
            out += [{"change": "=" if _same(x, y) else "~", "a": x, "b": y}
                    for x, y in zip(ra[i0:i + 1], rb[j0:j + 1])]
        else:
            out += [{"change": "-", "a": x, "b": None} for x in ra[i0:i]]
            out += [{"change": "+", "a": None, "b": y} for y in rb[j0:j]]
            out += [{"change": "=" if _same(x, y) else "~", "a": x, "b": y}
                    for x, y in zip(ra[i:i + 1], rb[j:j + 1])]
        i0, j0 = i + 1, j + 1
    return out


def _lcs(xs: list, ys: list) -> list[tuple[int, int]]:
    """The index pairs of a longest common subsequence of xs and ys, by dynamic programming
    after the common prefix and suffix (difflib's longest-block-first matching is not
    optimal: one layer inserted into a run of equal ones showed as two `+` and a `-`)."""
    n, m, lo, hi = len(xs), len(ys), 0, 0
    while lo < min(n, m) and xs[lo] == ys[lo]:
        lo += 1
    while hi < min(n, m) - lo and xs[n - 1 - hi] == ys[m - 1 - hi]:
        hi += 1
    a, b = xs[lo:n - hi], ys[lo:m - hi]
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            t[i][j] = t[i + 1][j + 1] + 1 if a[i] == b[j] else max(t[i + 1][j], t[i][j + 1])
    pairs, i, j = [(k, k) for k in range(lo)], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((lo + i, lo + j))
            i, j = i + 1, j + 1
        elif t[i + 1][j] >= t[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs + [(n - hi + k, m - hi + k) for k in range(hi)]


def renamed(a, b, depth: int | None = None, dims: dict | None = None) -> list[tuple[str, str]]:
    """(name in a, name in b) of the aligned layers holding parameters whose name changed: an
    automatic name (`conv2d_3`) renumbered by a layer inserted or removed before it."""
    return [(r["a"]["name"], r["b"]["name"]) for r in rows(a, b, depth, dims)
            if r["a"] and r["b"] and r["a"]["params"] and r["b"]["params"]
            and r["a"]["name"] != r["b"]["name"]]


def _subs(r: dict, dims) -> dict:
    return {**r, "shape": r["shape"].with_shape(tuple(Dim.of(d).subs(dims or {}) for d in r["shape"].shape)),
            "macs": Dim.of(r["macs"]).subs(dims or {})}


def _same(x: dict, y: dict) -> bool:
    return all(str(x[k]) == str(y[k]) for k in ("op", "shape", "params", "buffers", "macs"))


def _delta(x, y) -> str:
    """`1,792 -> 3,584 (+1,792)`, or the one value when equal or on one side only."""
    if x is None or y is None:
        return _fmt(y if x is None else x)
    if str(x) == str(y):
        return _fmt(x)
    d = Dim.of(y) - Dim.of(x)
    sign = "+" if d.is_const() and d.value >= 0 else ""
    return f"{_fmt(x)} -> {_fmt(y)} ({sign}{_fmt(d)})"


def text(a, b, depth: int | None = None, dims: dict | None = None, all_rows: bool = False) -> str:
    """The table of changes, then the totals of both models."""
    table = [("", "layer", "op", "output", "params", "MACs/example")]
    for r in rows(a, b, depth, dims):
        if r["change"] == "=" and not all_rows:
            continue
        x, y = r["a"], r["b"]
        side = lambda k: (x[k] if x else None, y[k] if y else None)
        names = side("name")
        name = names[0] if names[0] == names[1] or y is None else \
            (names[1] if x is None else f"{names[0]} -> {names[1]}")
        ops, shapes = side("op"), side("shape")
        op = ops[0] if ops[0] == ops[1] or y is None else (ops[1] if x is None else f"{ops[0]} -> {ops[1]}")
        shape = str(shapes[0] or shapes[1]) if str(shapes[0]) == str(shapes[1]) or None in shapes \
            else f"{shapes[0]} -> {shapes[1]}"
        table.append((r["change"], name, op, shape, _delta(*side("params")), _delta(*side("macs"))))
    ma, mb = total_macs(a, dims), total_macs(b, dims)
    totals = [f"parameters: {_delta(a.params, b.params)}", f"MACs per example: {_delta(ma, mb)}"]
    moved = renamed(a, b, depth, dims)
    if moved:
        shown = ", ".join(f"{x} -> {y}" for x, y in moved[:3]) + (", ..." if len(moved) > 3 else "")
        totals.append(f"note: {len(moved)} layer(s) with parameters keep their op but not their "
                      f"name ({shown}): a checkpoint of {a.name} will not load into {b.name}; "
                      "give them `name=` to keep the names")
    if len(table) == 1:
        return "\n".join([f"{a.name} and {b.name}: no layer differs"] + totals)
    return "\n".join(_columns(table, right={4, 5}) + [""] + totals)


def to_json(a, b, depth: int | None = None, dims: dict | None = None) -> dict:
    def layer(r):
        return None if r is None else {"name": r["name"], "op": r["op"],
                                       "shape": r["shape"].to_json()["shape"], "params": r["params"],
                                       "macs": Dim.of(r["macs"]).to_json(), "line": r["line"]}
    return {"a": a.name, "b": b.name,
            "params": [a.params, b.params],
            "macs": [total_macs(a, dims).to_json(), total_macs(b, dims).to_json()],
            "layers": [{"change": r["change"], "a": layer(r["a"]), "b": layer(r["b"])}
                       for r in rows(a, b, depth, dims)],
            "renamed": [list(p) for p in renamed(a, b, depth, dims)]}
