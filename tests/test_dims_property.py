"""Dim arithmetic as a property: hypothesis builds expression trees (sums, differences,
products, floor divisions nested with coefficients such as (3*(H//2))//6, ceiling divisions)
and every simplification the Dim makes is compared with plain integer arithmetic on the same
tree at random positive sizes, with and without divisibility facts (`where H % 4 == 0`), whose
sizes are then drawn among the multiples. Also: the printed form means the same value,
substitution commutes with evaluation, structural equality implies equal values, and
condition_for_equal's requirement makes the two sides equal wherever it holds."""
from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings, strategies as st

from dslc.ir.dims import Dim, condition_for_equal, facts

SYMBOLS = ("H", "W", "C")
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)

# A tree: ("sym", name) | ("const", k) | (op, a, b) for add/sub/mul | ("div", a, k) |
# ("cdiv", a, k) | ("scale", a, k): k * a. Built into a Dim and evaluated on ints, both from
# the same tree.
leaves = st.one_of(st.sampled_from(SYMBOLS).map(lambda s: ("sym", s)),
                   st.integers(-7, 12).map(lambda k: ("const", k)))


def _extend(inner):
    k = st.integers(1, 9)
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub"]), inner, inner),
        st.tuples(st.just("mul"), inner, leaves),
        st.tuples(st.sampled_from(["div", "cdiv", "scale"]), inner, k))


trees = st.recursive(leaves, _extend, max_leaves=10)


def build(t) -> Dim:
    op = t[0]
    if op == "sym":
        return Dim.of(t[1])
    if op == "const":
        return Dim.of(t[1])
    if op in ("add", "sub", "mul"):
        a, b = build(t[1]), build(t[2])
        return a + b if op == "add" else a - b if op == "sub" else a * b
    a = build(t[1])
    return a // t[2] if op == "div" else a.cdiv(t[2]) if op == "cdiv" else t[2] * a


def value(t, env) -> int:
    op = t[0]
    if op == "sym":
        return env[t[1]]
    if op == "const":
        return t[1]
    if op in ("add", "sub", "mul"):
        a, b = value(t[1], env), value(t[2], env)
        return a + b if op == "add" else a - b if op == "sub" else a * b
    a = value(t[1], env)
    return a // t[2] if op == "div" else -(-a // t[2]) if op == "cdiv" else t[2] * a


def _py(text: str, env) -> Fraction:
    """The printed form read as arithmetic: `//` floors, `/` is exact (a Fraction)."""
    import ast
    import operator as o

    ops = {ast.Add: o.add, ast.Sub: o.sub, ast.Mult: o.mul, ast.FloorDiv: o.floordiv,
           ast.Div: lambda a, b: Fraction(a) / b}

    def walk(n):
        if isinstance(n, ast.BinOp):
            return ops[type(n.op)](walk(n.left), walk(n.right))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -walk(n.operand)
        if isinstance(n, ast.Name):
            return env[n.id]
        assert isinstance(n, ast.Constant), ast.dump(n)
        return n.value
    return walk(ast.parse(text, mode="eval").body)


mods_st = st.fixed_dictionaries({}, optional={s: st.sampled_from([2, 3, 4, 8, 12, 32])
                                              for s in SYMBOLS})


@st.composite
def envs(draw, mods):
    """Positive sizes, each a multiple of its symbol's modulus."""
    return {s: mods.get(s, 1) * draw(st.integers(1, 40 if s not in mods else 6)) for s in SYMBOLS}


@st.composite
def cases(draw):
    mods = draw(mods_st)
    return draw(trees), mods, [draw(envs(mods)) for _ in range(3)]


@SETTINGS
@given(cases())
def test_every_simplification_keeps_the_value(case):
    tree, mods, points = case
    with facts(mods):
        d = build(tree)
    for env in points:
        assert d.evaluate(env) == value(tree, env), (str(d), tree, mods, env)


@SETTINGS
@given(cases())
def test_printed_form_means_the_same_value(case):
    tree, mods, points = case
    with facts(mods):
        d = build(tree)
    for env in points:
        assert _py(str(d), env) == value(tree, env), (str(d), env)


@SETTINGS
@given(cases(), st.sets(st.sampled_from(SYMBOLS)))
def test_substitution_then_evaluation_is_evaluation(case, known):
    tree, mods, points = case
    with facts(mods):
        d = build(tree)
        for env in points:
            part = d.subs({s: env[s] for s in known})
            assert part.symbols() <= set(SYMBOLS) - known
            assert part.evaluate(env) == value(tree, env), (str(d), str(part), env)
            assert d.subs(env).is_const() and d.subs(env).value == value(tree, env)


@SETTINGS
@given(cases(), trees)
def test_equal_dims_have_equal_values_and_resimplify_keeps_them(case, other):
    tree, mods, points = case
    with facts(mods):
        a, b = build(tree), build(other)
        again = build(tree)
        assert a == again and hash(a) == hash(again)       # canonical: one form per tree
        assert (a - a).is_const() and (a - a).value == 0
        assert a.resimplify().evaluate(points[0]) == value(tree, points[0])
    for env in points:
        if a == b:
            assert value(tree, env) == value(other, env), (str(a), tree, other)
        assert (a + b).evaluate(env) == value(tree, env) + value(other, env)
        assert (a * b).evaluate(env) == value(tree, env) * value(other, env)


@SETTINGS
@given(st.integers(2, 12), st.integers(1, 5), st.integers(-6, 6), st.integers(1, 40))
def test_condition_for_equal_is_sound_and_weakest(k, c, d, j):
    """(c*H + d) // k * k == c*H + d needs c*H + d to be a multiple of k: the requirement found
    makes both sides equal at every multiple, and it divides what a modulus of k*c would give."""
    e = c * Dim.of("H") + (d * k)            # a multiple of k whenever c*H is
    a, b = (e // k) * k, e
    req = condition_for_equal(a, b)
    need = k // __import__("math").gcd(k, c)  # c*H % k == 0  <=>  H % need == 0
    if need == 1:
        assert a == b and req is None
        return
    assert req is not None and req.symbol == "H" and req.kind == "mod"
    assert req.value == need, (str(a), str(b), req)
    h = req.value * j
    assert a.evaluate({"H": h}) == b.evaluate({"H": h})


def test_the_issues_nested_division():
    """(3*(H//2))//6 is H//4 at every H; and under H % 2 == 0 it still is."""
    for mods in ({}, {"H": 2}, {"H": 4}):
        with facts(mods):
            d = (3 * (Dim.of("H") // 2)) // 6
        for h in range(mods.get("H", 1), 200, mods.get("H", 1)):
            assert d.evaluate({"H": h}) == h // 4, (mods, h, str(d))


@SETTINGS
@given(cases())
def test_dividing_by_one_is_the_identity_with_or_without_the_facts(case):
    """x // 1 is x itself (one canonical form, so shapes still compare equal), also outside
    the facts that made a coefficient rational (H/4 under H % 4 == 0, divided later where no
    facts are in force: summary's and the backends' substitutions)."""
    tree, mods, points = case
    with facts(mods):
        d = build(tree)
        assert d // 1 == d and d.cdiv(1) == d
    assert d // 1 == d and d.cdiv(1) == d, str(d)
