"""Oracles for two tools on generated input.

`diff`: models generated as chains of layers, then edited (runs inserted, deleted, replaced by
runs of another length, hyperparameters changed); the aligned rows must be an alignment (every
layer of each model once, in order, pairs increasing on both sides), keep as many layers with
the same op paired as a brute-force longest common subsequence of the two op sequences (the
dynamic program, not difflib), and mark each row by what it holds.

`fmt`: comments placed at generated places of specs (after any token where a line may break,
on lines of their own, after the closing `}`): every comment token survives in order, the
output is canonical (formats to itself) and means what the input meant."""
from __future__ import annotations

import functools

from hypothesis import HealthCheck, given, settings, strategies as st

import dslc
from dslc.tools.diff import rows as diff_rows
from specfiles import SPECS
from test_fmt import comments, fmt, meaning, slots

LAYERS = ["dense(8)", "dense(16)", "dense(4)", "relu", "tanh", "dropout(0.1)", "layernorm",
          "sigmoid", "dense(8, bias=false)"]
chains = st.lists(st.sampled_from(LAYERS), min_size=1, max_size=9)


@st.composite
def edited(draw):
    """(a, b): b is a after 1-3 edits, each a run inserted, deleted or replaced."""
    a = draw(chains)
    b = list(a)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(b)))
        j = draw(st.integers(i, min(len(b), i + 3)))
        run = draw(st.lists(st.sampled_from(LAYERS), max_size=4))
        b[i:j] = run
    if not b:
        b = ["relu"]
    return a, b


def _chain_model(name, layers):
    text = f"model {name} {{\n    input x: f32[N, 8]\n    output y = x -> {' -> '.join(layers)}\n}}\n"
    return dslc.load(text).models[name]


def _lcs(xs, ys) -> int:
    t = [[0] * (len(ys) + 1) for _ in range(len(xs) + 1)]
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edited())
def test_diff_rows_are_an_optimal_alignment(pair):
    a, b = (_chain_model(n, layers) for n, layers in zip("AB", pair))
    out = diff_rows(a, b)
    names_a = [n.name for n in a.nodes]
    names_b = [n.name for n in b.nodes]
    assert [r["a"]["name"] for r in out if r["a"]] == names_a
    assert [r["b"]["name"] for r in out if r["b"]] == names_b
    pairs = [(names_a.index(r["a"]["name"]), names_b.index(r["b"]["name"]))
             for r in out if r["a"] and r["b"]]
    assert all(p < q for p, q in zip(pairs, pairs[1:])) and \
        all(p[1] < q[1] for p, q in zip(pairs, pairs[1:])), pairs
    ops_a, ops_b = [n.describe() for n in a.nodes], [n.describe() for n in b.nodes]
    same_op = sum(ops_a[i] == ops_b[j] for i, j in pairs)
    assert same_op == _lcs(ops_a, ops_b), (ops_a, ops_b, [r["change"] for r in out])
    for r in out:
        x, y = r["a"], r["b"]
        if x and y:
            same = all(str(x[k]) == str(y[k]) for k in ("op", "shape", "params", "buffers", "macs"))
            assert r["change"] == ("=" if same else "~"), r
        else:
            assert r["change"] == ("-" if x else "+")


def test_a_run_replaced_by_a_longer_run_keeps_the_layers_around_it():
    """The issue's case: two layers replaced by three of other kinds; the layers before and
    after stay paired (=), the old two are `-`, the new three `+`."""
    a = _chain_model("A", ["dense(8)", "relu", "tanh", "dense(4)"])
    b = _chain_model("B", ["dense(8)", "sigmoid", "layernorm", "dropout(0.1)", "dense(4)"])
    changes = [r["change"] for r in diff_rows(a, b)]
    assert changes.count("=") == 2 and changes.count("-") == 2 and changes.count("+") == 3
    assert changes[0] == changes[-1] == "="


# ---- fmt: comments at generated places ----
BASES = ["""model M(width: int = 8) {
    input x: f32[N, 4]
    input m: f32[N, 4]
    h = (x, m) -> concat(axis=1) -> dense(width) -> relu
    y = if width > 4 { h -> dense(2) } else { h -> dense(3) }
    output out = y -> softmax(axis=-1)
}
""", """block Res(t: [N, C, H, W], c: int) {
    main = t -> conv2d(c, 3, padding=1, bias=false) -> batchnorm
    return relu(main + t)   # residual
}

model Net {
    input x: f32[N, 3, 8, 8]
    output y = x -> conv2d(4, 3, padding=1) -> Res(4) * 2
        -> global_avgpool -> flatten -> dense(10)
}
""", (SPECS / "seeds" / "lenet.dl").read_text()]


@functools.lru_cache(maxsize=None)
def _breakable(text: str) -> list:
    """The insignificant whitespace runs of `text` where a line may end (the spec still
    parses with a line break there: not between `model` and its name, say)."""
    from dslc.syntax.fmt import format_text
    return [s for s in slots(text)
            if format_text(text[:s[0]] + "\n" + text[s[0] + s[1]:])[0] is not None]


@st.composite
def commented(draw):
    """A base spec with comments `# cK` put into some of its insignificant whitespace runs
    where a line may end (ending the line there), on lines of their own, and after the last
    `}`."""
    text = draw(st.sampled_from(BASES))
    places = _breakable(text)
    assert len(places) > 10, "a base spec where no line may break"
    chosen = sorted(draw(st.sets(st.integers(0, len(places) - 1), min_size=1, max_size=6)))
    out, last = [], 0
    for k, i in enumerate(chosen):
        pos, length, _, _ = places[i]
        own_line = draw(st.booleans())
        out += [text[last:pos], f"\n# c{k}\n" if own_line else f"  # c{k}\n"]
        last = pos + length
    out.append(text[last:].rstrip("\n") + (" # after the brace\n" if draw(st.booleans()) else "\n"))
    return text, "".join(out)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commented())
def test_fmt_keeps_every_comment_at_generated_places(case):
    base, text = case
    out = fmt(text)
    assert comments(out) == comments(text), (text, out)
    assert fmt(out) == out
    assert meaning(out, "<spec>") == meaning(base, "<spec>")
