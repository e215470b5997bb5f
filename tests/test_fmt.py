"""dslc fmt: canonical, idempotent, comments kept, meaning unchanged (the IR compared).

Expected layouts below are written by hand from the rules in dslc/syntax/fmt.py's docstring."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dslc.api import check_text
from dslc.cli import main
from dslc.syntax.fmt import format_text

from specfiles import SPECS

ALL = sorted(SPECS.rglob("*.dl"))
PARSEABLE = [p for p in ALL if format_text(p.read_text(), str(p))[0] is not None]


def fmt(text: str) -> str:
    out, diags = format_text(text)
    assert out is not None, [d.short() for d in diags]
    return out


def comments(text: str) -> list[str]:
    """`#` to the end of the line, outside strings (an independent scan of the text)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"""^(?:[^#"']|"[^"\n]*"|'[^'\n]*')*(#.*)$""", line)
        if m:
            out.append(m.group(1).rstrip())
    return out


def meaning(text: str, file: str):
    """What a spec means, spans left out: each model's ports, nodes and parameter count, and
    the diagnostics' codes and messages."""
    program = check_text(text, file)
    models = {}
    for name, m in program.models.items():
        nodes = [(n.name, repr(n.op.model_dump()), n.inputs, n.outputs, repr(n.in_types),
                  repr(n.out_types), repr(n.init), n.tied_to, n.ties, n.frozen, n.blocks)
                 for n in m.nodes]
        ports = [(p.name, p.value, repr(p.type)) for p in m.inputs + m.outputs]
        models[name] = (nodes, ports, repr(m.constraints), m.params)
    return models, program.blocks, [(d.code, d.message) for d in program.diagnostics]


def test_most_specs_are_already_canonical():
    unchanged = [p for p in PARSEABLE if fmt(p.read_text()) == p.read_text()]
    # the parser's own diagnostics: syntax (E101-E103) and too deep a nesting (E307)
    syntax_errors = [p for p in ALL if re.search(r"#\s*E:\s*(E10[123]|E307 nest)", p.read_text())]
    assert set(ALL) - set(PARSEABLE) == set(syntax_errors)   # only those fail to parse
    assert len(unchanged) >= 0.85 * len(PARSEABLE)


@pytest.mark.parametrize("path", PARSEABLE, ids=lambda p: str(p.relative_to(SPECS)))
def test_spec_formats_idempotently_keeping_comments_and_meaning(path: Path):
    text = path.read_text()
    out = fmt(text)
    assert fmt(out) == out
    assert comments(out) == comments(text)
    assert meaning(out, str(path)) == meaning(text, str(path))
    assert all(line == line.rstrip() for line in out.splitlines()) and out.endswith("}\n")


# ---- the layout does not matter: re-spaced and re-broken specs format the same ----
SAFE_EMPTY = set("()[]{},:")


def slots(text: str):
    """The whitespace runs between code characters that fmt treats as insignificant: not in a
    line holding a comment, not holding a blank line; the run before a `->` keeps whether
    it breaks the line (that break is the layout fmt keeps)."""
    frozen_lines = {i for i, line in enumerate(text.split("\n")) if comments(line)}
    code = re.compile(r""""[^"\n]*"|'[^'\n]*'|#[^\n]*|\s+|.""")
    out, line = [], 0
    pieces = [m.group() for m in code.finditer(text)]
    pos = 0
    for k, piece in enumerate(pieces):
        start_line, line = line, line + piece.count("\n")
        if (piece.isspace() and 0 < k < len(pieces) - 1 and piece.count("\n") < 2
                and not frozen_lines & set(range(start_line, line + 1))):
            nxt, prev = pieces[k + 1], pieces[k - 1]
            out.append((pos, len(piece), "\n" in piece if nxt == "-" and pieces[k + 2] == ">"
                        else None, prev[-1] in SAFE_EMPTY or nxt[0] in SAFE_EMPTY))
        pos += len(piece)
    return out


def relayout(text: str, rnd) -> str:
    out, last = [], 0
    for pos, length, newline, may_vanish in slots(text):
        choices = {None: [" ", "  ", "\t", "\n", "\n        ", " \n  "],
                   True: ["\n", "\n  ", "\n\t\t"], False: [" ", "   ", "\t"]}[newline]
        if may_vanish and newline is not True:
            choices = choices + [""]
        out += [text[last:pos], rnd.choice(choices)]
        last = pos + length
    return "".join(out) + text[last:]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PARSEABLE), st.randoms(use_true_random=False))
def test_relayout_formats_the_same(path, rnd):
    text = path.read_text()
    mutated = relayout(text, rnd)
    assert fmt(mutated) == fmt(text)


def test_relayout_changes_layout():
    """The mutation is not a no-op (so the property above can fail)."""
    import random
    text = (SPECS / "zoo" / "resnet.dl").read_text()
    mutated = relayout(text, random.Random(0))
    assert mutated != text and mutated.split() != text.split()


# ---- the rules, on small examples ----
def test_spacing_commas_and_strings():
    src = ("model   M ( a : int=3 , b = 2, ) {\n"
           "    input x:f32[N,4,]   where N>1,N<=8\n"
           "    y=(x->f(1,k=2,))+-x**2\n"
           "    t = ( 1, )\n"
           "    output z , w=if a{y}else{[1,2,]}\n"
           "    return {a: 'q', b : \"r'\"}, 1E-3\n"
           "}")
    assert fmt(src) == ("model M(a: int = 3, b=2) {\n"
                        "    input x: f32[N, 4] where N > 1, N <= 8\n"
                        "    y = (x -> f(1, k=2)) + -x ** 2\n"
                        "    t = (1,)\n"
                        "    output z, w = if a { y } else { [1, 2] }\n"
                        "    return {a: \"q\", b: \"r'\"}, 1e-3\n"
                        "}\n")


def test_statements_one_per_line_and_blank_lines():
    src = ("\n\n# head\n\nimport \"lib.dl\"\nblock B(x: [N, C]) {\n\n    y = x   z = y\n\n\n"
           "    return z\n\n}\n\n\n\nmodel M { input x: f32[N, 2] output y = x }   \n\n")
    assert fmt(src) == ("# head\n\nimport \"lib.dl\"\n\nblock B(x: [N, C]) {\n    y = x\n    z = y\n\n"
                        "    return z\n}\n\nmodel M {\n    input x: f32[N, 2]\n    output y = x\n}\n")


def test_long_chain_wraps_under_its_first_arrow():
    stages = " -> ".join(f"dense({n})" for n in range(100, 118))
    src = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> {stages}\n}}\n"
    out = fmt(src).splitlines()
    assert max(map(len, out)) <= 100
    first = out[2]
    assert first.startswith("    output y = x -> dense(100) -> ")
    arrow = first.index("->")
    assert all(line.index("->") == arrow and line.lstrip().startswith("->") for line in out[3:-1])
    assert " -> ".join(s.strip().removeprefix("-> ") for s in out[2:-1]) == \
        "output y = x -> " + stages                         # every stage, in order
    # greedy: no continuation line could take the next line's first stage
    for line, nxt in zip(out[2:-2], out[3:-1]):
        assert len(line) + 1 + len(nxt.strip().split(" -> ")[0]) > 100


def test_arrow_starting_a_line_is_kept_and_short_lines_are_joined():
    src = "model M {\n    input x: f32[N, 4]\n    output y = x -> relu\n    -> tanh -> \n sigmoid\n}\n"
    assert fmt(src) == ("model M {\n    input x: f32[N, 4]\n    output y = x -> relu\n"
                        "                 -> tanh -> sigmoid\n}\n")


def test_chain_continues_under_its_start_when_the_arrow_is_too_far():
    head = "(x + (x -> dense(4, name=a_long_layer_name) -> relu -> dense(4, name=other)))"
    assert 15 + len(head) <= 100 < 15 + len(head) + len(" -> layernorm(name=norm2)")
    src = f"model M {{\n    input x: f32[N, 4]\n    output y = {head} -> layernorm(name=norm2)\n}}\n"
    assert fmt(src).splitlines()[2:4] == [f"    output y = {head}",
                                          "               -> layernorm(name=norm2)"]


def test_arguments_fill_after_the_bracket():
    args = ", ".join(f"x -> dense({n})" for n in range(1, 9))
    src = f"model M {{\n    input x: f32[N, 4]\n    output y = concat({args}, axis=1)\n}}\n"
    assert fmt(src).splitlines()[2:4] == [
        "    output y = concat(x -> dense(1), x -> dense(2), x -> dense(3), x -> dense(4), x -> dense(5),",
        "                      x -> dense(6), x -> dense(7), x -> dense(8), axis=1)"]


def test_binary_operator_breaks_only_when_that_makes_it_fit():
    long = "f(" + ", ".join(["abcdefgh"] * 8) + ")"
    src = f"model M {{\n    input x: f32[N, 4]\n    output y = {long} + {long}\n}}\n"
    assert fmt(src).splitlines()[2:4] == [f"    output y = {long}", f"               + {long}"]


def test_if_that_does_not_fit_puts_its_branches_on_lines():
    body = "x -> dense(64, name=first_projection_layer) -> relu -> dense(64, name=second)"
    src = f"model M(c: int = 1) {{\n    input x: f32[N, 4]\n    output y = if c == 1 {{ {body} }} else {{ x }}\n}}\n"
    assert fmt(src).splitlines()[2:5] == ["    output y = if c == 1 {",
                                          f"                   {body}",
                                          "               } else { x }"]


def test_comments_stay_with_their_tokens():
    src = ("# top\nmodel M {  # after brace\n    input x: f32[N, 4]\n    # own line\n"
           "    y = f(x,   # after comma\n      # before b\n  x)\n"
           "    z = y  # mid\n   -> relu\n      # before arrow\n -> tanh\n"
           "    output w = z                          # aligned\n    output v = w # tight\n"
           "    # closing\n}\n# end\n")
    assert fmt(src) == ("# top\nmodel M {  # after brace\n    input x: f32[N, 4]\n    # own line\n"
                        "    y = f(x,   # after comma\n          # before b\n          x)\n"
                        "    z = y  # mid\n        -> relu\n        # before arrow\n        -> tanh\n"
                        "    output w = z                          # aligned\n"
                        "    output v = w  # tight\n    # closing\n}\n# end\n")


def test_comment_where_no_line_breaks_leaves_the_statement_as_written():
    src = "model M {\n  input x: f32[N, 4]\n  output y = f(x  # odd\n             , x)\n}\n"
    assert fmt(src) == "model M {\n    input x: f32[N, 4]\n    output y = f(x  # odd\n               , x)\n}\n"


def test_syntax_error_is_refused_with_the_located_diagnostic():
    out, diags = format_text("model M {\n    input x: f32[N, 4]\n    output y = x -> dense(4\n}\n", "s.dl")
    assert out is None and [(d.code, d.span.line) for d in diags] == [("E101", 4)]


def test_deep_brackets_are_refused_not_crashed():
    src = "model M {\n    input x: f32[N, 4]\n    output y = " + "(" * 1500 + "x" + ")" * 1500 + "\n}\n"
    out, diags = format_text(src)
    assert out is None and diags[0].code == "E307" and diags[0].span.line == 3


def test_a_chain_of_any_length_formats():
    src = "model M {\n    input x: f32[N, 4]\n    output y = x" + " -> relu" * 5000 + "\n}\n"
    out = fmt(src)
    assert out.count("relu") == 5000 and max(map(len, out.splitlines())) <= 100


# ---- the command ----
UGLY = "model M {\n  input x: f32[N,4]\n  output y=x->relu  # keep\n}\n"
PRETTY = "model M {\n    input x: f32[N, 4]\n    output y = x -> relu  # keep\n}\n"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rewrites_in_place_and_names_the_files(tmp_path, capsys):
    ugly, pretty = tmp_path / "ugly.dl", tmp_path / "pretty.dl"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    code, out, _ = run(capsys, "fmt", str(ugly), str(pretty))
    assert code == 0 and out == f"reformatted {ugly}\n"
    assert ugly.read_text() == PRETTY and pretty.read_text() == PRETTY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretty.dl", "ugly.dl"]   # no temp left


def test_cli_check_writes_nothing_and_exits_1_when_a_file_would_change(tmp_path, capsys):
    ugly, pretty = tmp_path / "ugly.dl", tmp_path / "pretty.dl"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    assert run(capsys, "fmt", "--check", str(pretty)) == (0, "", "")
    code, out, _ = run(capsys, "fmt", "--check", str(pretty), str(ugly))
    assert code == 1 and out == f"would reformat {ugly}\n" and ugly.read_text() == UGLY
    code, out, _ = run(capsys, "fmt", "--diff", str(ugly))
    assert code == 0 and "\n-  output y=x->relu  # keep\n" in out
    assert "\n+    output y = x -> relu  # keep\n" in out
    assert ugly.read_text() == UGLY


def test_cli_refuses_a_spec_that_does_not_parse(tmp_path, capsys):
    bad = tmp_path / "bad.dl"
    bad.write_text("model M {\n    output y = x -> dense(4\n}\n")
    code, out, err = run(capsys, "fmt", str(bad))
    assert code == 1 and out == "" and "error[E101]" in err and f"{bad}:3:1" in err
    assert bad.read_text() == "model M {\n    output y = x -> dense(4\n}\n"


def test_cli_stdin_to_stdout(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert run(capsys, "fmt", "-") == (0, PRETTY, "")
    monkeypatch.setattr("sys.stdin", io.StringIO(UGLY))
    assert run(capsys, "fmt", "--check", "-") == (1, "", "")


def test_cli_unreadable_file_is_a_usage_error(tmp_path, capsys):
    code, _, err = run(capsys, "fmt", str(tmp_path / "missing.dl"))
    assert code == 2 and err.startswith("dslc: cannot read") and len(err.splitlines()) == 1
