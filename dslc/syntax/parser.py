"""Lark (LALR) -> frozen AST with spans. Lark's errors become E1xx diagnostics."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import lark
from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive

from . import ast
from ..diagnostics import Diagnostic, Span, source_lines
from ..limits import MAX_DIGITS, MAX_NESTING, MAX_TOKENS

_TOKEN_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`",
    "RBRACE": "`}`", "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`",
    "CMP_OP": "a comparison", "POW": "`**`", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//`, `%` or `@`",
    "$END": "end of file",
}


def grammar_path() -> Path:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "grammar" / "dslc.lark", here.parent / "grammar" / "dslc.lark"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("dslc grammar (grammar/dslc.lark) is missing from the installation")


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    # cache=True keeps the built LALR tables in the temp dir (keyed by the grammar's hash):
    # `dslc check` runs on every save, and building the tables is most of a cold start.
    return lark.Lark(grammar_path().read_text(), parser="lalr", propagate_positions=True,
                     maybe_placeholders=True, cache=True)


def _describe(term: str, parser: lark.Lark) -> str:
    if term in _TOKEN_WORDS:
        return _TOKEN_WORDS[term]
    try:
        pattern = parser.get_terminal(term).pattern
        if pattern.type == "str":
            return f"`{pattern.value}`"
    except KeyError:
        pass
    return term.lower()


class _ToAst(Transformer_NonRecursive):     # a 20,000-stage `->` chain is a deep tree
    def __init__(self, file: str):
        super().__init__(visit_tokens=False)
        self.file = file
        self.problems: list[Diagnostic] = []

    def transform(self, tree: lark.Tree):
        """Transformer_NonRecursive's walk (postorder, no recursion), with each rule's method
        looked up once instead of per node: lark wraps a `v_args(meta=True)` method anew on
        every attribute access, which was a third of parsing a long chain."""
        order, todo = [], [tree]
        while todo:
            t = todo.pop()
            order.append(t)
            todo.extend(c for c in t.children if isinstance(c, lark.Tree))
        calls: dict = {}
        done: dict[int, object] = {}
        for t in reversed(order):
            call = calls.get(t.data)
            if call is None:
                f = getattr(type(self), t.data)
                base = getattr(f, "base_func", None)
                call = calls[t.data] = ((lambda t, c, b=base: b(self, t.meta, c)) if base
                                        else (lambda t, c, f=f: f(self, c)))
            done[id(t)] = call(t, [done.pop(id(c)) if isinstance(c, lark.Tree) else c
                                   for c in t.children])
        return done[id(tree)]

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", False):
            return Span(self.file, 1, 1, 1, 1)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # ---- atoms ----
    @v_args(meta=True)
    def name(self, meta, c):
        return ast.Name(self._span(meta), str(c[0]))

    @v_args(meta=True)
    def int_lit(self, meta, c):
        digits = str(c[0]).replace("_", "")
        if len(digits) <= MAX_DIGITS:         # bounded before conversion, which is quadratic
            return ast.Literal(self._span(meta), int(digits))
        self.problems.append(Diagnostic("E307", f"an integer literal of {len(digits):,} digits",
                                        self._span(meta), expected=f"at most {MAX_DIGITS} digits"))
        return ast.Literal(self._span(meta), 0)

    @v_args(meta=True)
    def float_lit(self, meta, c):
        return ast.Literal(self._span(meta), float(str(c[0]).replace("_", "")))

    @v_args(meta=True)
    def string_lit(self, meta, c):
        return ast.Literal(self._span(meta), str(c[0])[1:-1])

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return ast.Literal(self._span(meta), True)

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return ast.Literal(self._span(meta), False)

    @v_args(meta=True)
    def tuple_lit(self, meta, c):
        return ast.TupleLit(self._span(meta), tuple(x for x in c if x is not None))

    @v_args(meta=True)
    def list_lit(self, meta, c):
        return ast.ListLit(self._span(meta), tuple(x for x in c if x is not None))

    @v_args(meta=True)
    def record_lit(self, meta, c):
        return ast.RecordLit(self._span(meta), tuple(x for x in c if x is not None))

    def entry(self, c):
        return (str(c[0]), c[1])

    # ---- operators ----
    @v_args(meta=True)
    def binop(self, meta, c):
        return ast.BinOp(self._span(meta), str(c[1]), c[0], c[2])

    @v_args(meta=True)
    def compare(self, meta, c):
        return ast.BinOp(self._span(meta), str(c[1]), c[0], c[2])

    @v_args(meta=True)
    def or_op(self, meta, c):
        return ast.BinOp(self._span(meta), "or", c[0], c[1])

    @v_args(meta=True)
    def and_op(self, meta, c):
        return ast.BinOp(self._span(meta), "and", c[0], c[1])

    @v_args(meta=True)
    def pow_op(self, meta, c):
        return ast.BinOp(self._span(meta), "**", c[0], c[2])

    @v_args(meta=True)
    def not_op(self, meta, c):
        return ast.Not(self._span(meta), c[0])

    @v_args(meta=True)
    def neg(self, meta, c):
        return ast.Neg(self._span(meta), c[0])

    @v_args(meta=True)
    def pipe(self, meta, c):
        return ast.Pipe(self._span(meta), c[0], c[1])

    @v_args(meta=True)
    def call(self, meta, c):
        return ast.Call(self._span(meta), c[0], tuple(a for a in c[1:] if a is not None))

    @v_args(meta=True)
    def pos_arg(self, meta, c):
        return ast.Arg(self._span(meta), None, c[0])

    @v_args(meta=True)
    def kw_arg(self, meta, c):
        return ast.Arg(self._span(meta), str(c[0]), c[1])

    @v_args(meta=True)
    def if_expr(self, meta, c):
        return ast.IfExpr(self._span(meta), c[0], c[1], c[2])

    # ---- declarations ----
    @v_args(meta=True)
    def ellipsis(self, meta, c):
        return ast.EllipsisDim(self._span(meta))

    @v_args(meta=True)
    def tensor_type(self, meta, c):
        dtype = str(c[0]) if c[0] is not None else None
        t = ast.TensorTypeExpr(self._span(meta), dtype, tuple(d for d in c[1:] if d is not None))
        dots = [d for d in t.dims if isinstance(d, ast.EllipsisDim)]
        if len(dots) > 1:
            self.problems.append(Diagnostic(
                "E101", "a second `...` in one pattern", dots[1].span, expected="one `...`",
                got=f"{len(dots)}", notes=((dots[0].span, "the first `...` is here"),),
                help="`...` stands for all the axes its neighbours leave; name the others "
                     "(`[N, ..., C]`)"))
        return t

    def scalar_type(self, c):
        return str(c[0])

    @v_args(meta=True)
    def param(self, meta, c):
        return ast.Param(self._span(meta), str(c[0]), c[1], c[2])

    def param_list(self, c):
        return tuple(p for p in c if p is not None)

    @v_args(meta=True)
    def input_stmt(self, meta, c):
        at = c[1].ellipsis
        if at is not None:
            self.problems.append(Diagnostic(
                "E101", "`...` in the shape of an input", c[1].dims[at].span,
                expected="a size (a number or a symbol)", got="`...`",
                help="an input gives each of its dims; `...` belongs in a block's port pattern"))
        return ast.Input(self._span(meta), str(c[0]), c[1], c[2] or ())

    def where(self, c):
        return tuple(c)

    @v_args(meta=True)
    def output_stmt(self, meta, c):
        names = tuple(str(t) for t in c if isinstance(t, Token))
        return ast.Output(self._span(meta), names, c[-1] if not isinstance(c[-1], Token) else None)

    @v_args(meta=True)
    def assign_stmt(self, meta, c):
        return ast.Assign(self._span(meta), tuple(str(t) for t in c[:-1]), c[-1])

    @v_args(meta=True)
    def return_stmt(self, meta, c):
        return ast.Return(self._span(meta), tuple(c))

    @v_args(meta=True)
    def model(self, meta, c):
        return ast.ModelDef(self._span(meta), str(c[0]), c[1] or (), tuple(c[2:]))

    @v_args(meta=True)
    def block(self, meta, c):
        return ast.BlockDef(self._span(meta), str(c[0]), c[1] or (), tuple(c[2:]))

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        return ast.Import(self._span(meta), str(c[0])[1:-1])

    @v_args(meta=True)
    def start(self, meta, c):
        return ast.File(self._span(meta), tuple(i for i in c if isinstance(i, ast.ModelDef)),
                        tuple(i for i in c if isinstance(i, ast.BlockDef)),
                        tuple(i for i in c if isinstance(i, ast.Import)))


def parse(text: str, file: str = "<spec>") -> tuple[ast.File | None, list[Diagnostic]]:
    """Parse a spec. Returns the AST, or None and the syntax diagnostic."""
    crowded = _too_many_tokens(text, file)
    if crowded:
        return None, [crowded]
    p = _parser()
    try:
        tree = p.parse(text)
    except lark.exceptions.UnexpectedInput as e:
        return None, [_syntax_diagnostic(e, text, file, p)]
    to_ast = _ToAst(file)
    file_ast = to_ast.transform(tree)
    if to_ast.problems:
        return None, to_ast.problems
    deep = _too_deep(file_ast)
    return (None, [deep]) if deep else (file_ast, [])


# A token as the grammar's lexer sees one, near enough to bound the parser's work (which is
# linear in tokens): comments and whitespace are not tokens.
_ROUGH_TOKEN = re.compile(r"#[^\n]*|\"[^\"\n]*\"|'[^'\n]*'|[A-Za-z0-9_.]+|->|\*\*|//|[<>=!]=|\S")


def _too_many_tokens(text: str, file: str) -> Diagnostic | None:
    """E307 at the token past MAX_TOKENS, found before the parser starts (a 1 MiB file of
    `-> relu` is 170,000 stages: seconds of parsing before the layer limit could stop it)."""
    if len(text) <= MAX_TOKENS:
        return None
    count = 0
    for m in _ROUGH_TOKEN.finditer(text):
        if m.group()[0] == "#":
            continue
        count += 1
        if count > MAX_TOKENS:
            at = m.start()
            line = text.count("\n", 0, at) + 1
            col = at - text.rfind("\n", 0, at)
            return Diagnostic("E307", f"the file has more than {MAX_TOKENS:,} tokens", Span(
                file, line, col, line, col + len(m.group())),
                expected=f"at most {MAX_TOKENS:,} names, numbers and symbols in one file",
                help="write a repeat (`layer * n`) or a block for what is written out here, "
                     "or split the file with `import`")
    return None


def _too_deep(root) -> Diagnostic | None:
    """E307 at the first expression nested deeper than MAX_NESTING (the elaborator recurses per
    level). A `->` chain is not nesting: its stages are elaborated in a loop, so
    `x -> relu -> relu ...` may be any length. Iterative, like everything that walks the AST."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return Diagnostic("E307", f"expressions nest deeper than {MAX_NESTING} levels", node.span,
                              expected=f"at most {MAX_NESTING} levels of nesting",
                              got=f"more than {MAX_NESTING}",
                              help="name the intermediate results (`a = ...`) or write a `->` "
                                   "chain, which may be any length")
        if isinstance(node, ast.Pipe):
            stack.append((node.source, depth))
            stack.append((node.stage, depth + 1))
            continue
        inner = depth if isinstance(node, ast.Arg) else depth + 1    # `f(x)` is one level
        stack.extend((child, inner) for child in ast.children(node))
    return None


def _syntax_diagnostic(e: lark.exceptions.UnexpectedInput, text: str, file: str,
                       p: lark.Lark) -> Diagnostic:
    expected = sorted({_describe(t, p) for t in (getattr(e, "expected", None) or
                                                 getattr(e, "allowed", None) or ())})
    exp = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "") if expected else None
    if isinstance(e, lark.exceptions.UnexpectedEOF) or (
            isinstance(e, lark.exceptions.UnexpectedToken) and e.token.type == "$END"):
        lines = source_lines(text)
        line, col = len(lines), len(lines[-1]) + 1
        notes = tuple((s, f"this `{c}` is never closed") for c, s in _open_brackets(text, file, (line + 1, 1)))
        return Diagnostic("E103", "unexpected end of file", Span(file, line, col, line, col + 1),
                          got="end of file", notes=notes[-1:],
                          help=None if notes else "the last statement is incomplete")
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok = e.token
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(str(tok)))
        notes = tuple((s, f"this `{c}` is never closed") for c, s in _open_brackets(text, file, (tok.line, tok.column)))
        return Diagnostic("E101", f"unexpected `{tok}`", span, expected=exp, got=f"`{tok}`",
                          notes=notes[-1:], help=_ELLIPSIS_HELP if str(tok) == "..." else None)
    line, col = e.line, e.column
    char = _visible(source_lines(text)[line - 1][col - 1])
    return Diagnostic("E102", f"unexpected character `{char}`", Span(file, line, col, line, col + 1),
                      expected=exp, got=f"`{char}`")


_ELLIPSIS_HELP = ("`...` stands for any number of axes in a block's port pattern only "
                  "(`block Swish(x: [N, ...])`)")


def _visible(char: str) -> str:
    """A character as a diagnostic shows it: escaped when it is invisible (`\\x0c`, `\\u2028`)."""
    return char if char.isprintable() else ascii(char)[1:-1]


_PAIRS = {")": "(", "]": "[", "}": "{"}


def _open_brackets(text: str, file: str, upto: tuple[int, int]) -> list[tuple[str, Span]]:
    """Brackets still open before the offending token (strings and comments skipped)."""
    stack: list[tuple[str, Span]] = []
    quote = None
    for ln, line in enumerate(source_lines(text), start=1):
        for col, ch in enumerate(line, start=1):
            if (ln, col) >= upto:
                return stack
            if quote:
                quote = None if ch == quote else quote
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            elif ch in "([{":
                stack.append((ch, Span(file, ln, col, ln, col + 1)))
            elif ch in ")]}" and stack and stack[-1][0] == _PAIRS[ch]:
                stack.pop()
    return stack
