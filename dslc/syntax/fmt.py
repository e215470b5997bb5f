"""`dslc fmt`: the canonical layout of a spec, comments kept.

The spec is parsed again with every token kept and the lexer's comments collected, then laid
out from the tokens alone. The rules:
- one statement per line, bodies indented by 4 spaces, `}` at the definition's column; one
  blank line between top-level definitions; inside bodies and comment runs, a blank line of
  the source is kept (several become one), none at the start of a body or before its `}`;
- spaces as black puts them: around `=` of a statement and of a typed default
  (`width: int = 32`), none around a keyword argument's or untyped default's `=`
  (`stride=2`), one after `,` and `:`, around binary operators (`**` included) and `->`,
  none inside brackets or after a unary minus; trailing commas dropped (a one-element tuple
  keeps its comma); strings in double quotes when they contain none; exponents as `e`;
- a line longer than 100 columns is wrapped: a `->` chain continues under its first `->`
  (under the chain's start when a stage does not fit there); bracketed lists are filled and
  continue after the opening bracket; a binary operator moves to a new line under its left
  operand when its right operand then fits; an `if` that does not fit puts its branches on
  lines of their own, indented by 4 from the `if` (`} else { x }` when that fits);
- the one line break kept from the source: a `->` that starts a line keeps starting one (the
  stages a spec groups on a line stay grouped);
- a comment stays with the token it follows (trailing) or precedes (own line); a trailing
  comment keeps its column when at least two spaces separate it from the code, else it sits
  two spaces after it; comments never make code wrap. A statement whose comments sit where no
  line can break is left as written (re-indented);
- trailing whitespace is removed and the file ends with one newline.
Formatting is idempotent and never changes what the spec means (the tests compare the IR)."""
from __future__ import annotations

import sys
import threading
from bisect import bisect_left
from functools import lru_cache

import lark
from lark import Token, Tree

from ..diagnostics import Diagnostic, Span
from .parser import grammar_path, parse

WIDTH = 100
INDENT = 4
MAX_CST_DEPTH = 1000      # brackets inside brackets (parentheses vanish from the AST's count)

_BINARY = {"binop", "compare", "or_op", "and_op", "pow_op"}
_LISTS = {"list_lit", "tuple_lit", "record_lit", "param_list", "tensor_type"}   # bracketed


def format_text(text: str, file: str = "<spec>") -> tuple[str | None, list[Diagnostic]]:
    """The canonical text of a spec, or None and the syntax diagnostics (those of `dslc
    check`: a spec that does not parse is never formatted)."""
    tree, diags = parse(text, file)
    if tree is None:
        return None, diags
    cst, comments = _parse_keeping_all(text)
    deep = _too_deep(cst, file)
    if deep:
        return None, [deep]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * MAX_CST_DEPTH))   # the layout recurses per bracket
    try:
        return _Formatter(text, cst, comments).file(), []
    finally:
        sys.setrecursionlimit(limit)


@lru_cache(maxsize=1)
def _grammar() -> str:
    return grammar_path().read_text()


def _parse_keeping_all(text: str) -> tuple[Tree, list[Token]]:
    """The concrete tree (every token kept) and the comments, in source order. The lexer's
    comments go to a list of this call's own (per thread): the parser is shared, and a list
    shared with it mixed the comments of two formats running at once."""
    comments: list[Token] = []
    _SINK.comments = comments
    try:
        return _parser().parse(text), comments
    finally:
        _SINK.comments = None


_SINK = threading.local()


def _collect(token: Token) -> None:
    sink = getattr(_SINK, "comments", None)
    if sink is not None:
        sink.append(token)


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    return lark.Lark(_grammar(), parser="lalr", keep_all_tokens=True, maybe_placeholders=True,
                     lexer_callbacks={"COMMENT": _collect})


def _kids(node) -> list:
    return [c for c in node.children if c is not None]


def _too_deep(cst: Tree, file: str) -> Diagnostic | None:
    """E307 where brackets nest deeper than MAX_CST_DEPTH (a `->` chain is not nesting)."""
    stack = [(cst, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_CST_DEPTH:
            tok = _leaves(node)[0]
            line, col = tok.line, tok.column
            return Diagnostic("E307", f"expressions nest deeper than {MAX_CST_DEPTH} levels",
                              Span(file, line, col, line, col + 1),
                              help="name the intermediate results (`a = ...`)")
        for c in _kids(node):
            if isinstance(c, Tree):
                stack.append((c, depth if node.data == "pipe" and c is node.children[0] else depth + 1))
    return None


def _leaves(root: Tree) -> list[Token]:
    """The tokens in source order (iterative: a long `->` chain is a deep tree)."""
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            out.append(node)
        else:
            stack.extend(reversed(_kids(node)))
    return out


def _spelling(tok: Token) -> str:
    s = str(tok)
    if tok.type == "STRING" and s[0] == "'" and '"' not in s:
        return '"' + s[1:-1] + '"'
    if tok.type == "FLOAT":
        return s.replace("E", "e")
    return s


class LayoutError(Exception):
    """Code would follow a comment on its line: the layout tried is impossible."""


class _Line:
    __slots__ = ("col", "text", "comment")

    def __init__(self, col: int, text: str = "", comment: Token | None = None):
        self.col, self.text, self.comment = col, text, comment

    @property
    def end(self) -> int:
        return self.col + len(self.text)


class _Block:
    """Laid-out lines; the first starts at the column the block was laid out at."""

    def __init__(self, col: int):
        self.lines = [_Line(col)]

    @property
    def end(self) -> int:
        return self.lines[-1].end

    @property
    def closed(self) -> bool:
        return self.lines[-1].comment is not None

    def width(self) -> int:
        return max(line.end for line in self.lines)

    def add(self, text: str) -> _Block:
        if text and self.closed:
            raise LayoutError
        self.lines[-1].text += text
        return self

    def join(self, other: _Block) -> _Block:
        """`other` continues the last line (it was laid out at this block's end)."""
        first, mine = other.lines[0], self.lines[-1]
        if not mine.text and mine.comment is None and len(self.lines) == 1:
            self.lines = other.lines        # nothing here yet: `other` starts the block
            return self
        if self.closed or (not first.text and first.comment is not None):
            raise LayoutError
        self.lines[-1].text += first.text
        self.lines[-1].comment = first.comment
        self.lines += other.lines[1:]
        return self

    def below(self, other: _Block) -> _Block:
        """`other` on lines of its own (it was laid out at its own column)."""
        self.lines += other.lines
        return self


class _Formatter:
    def __init__(self, text: str, cst: Tree, comments: list[Token]):
        self.text, self.cst = text, cst
        self.tokens = _leaves(cst)
        self.index = {id(t): i for i, t in enumerate(self.tokens)}
        self.lead: dict[int, list[Token]] = {}      # own-line comments before token i
        self.trail: dict[int, Token] = {}           # the comment after token i on its line
        starts = [t.start_pos for t in self.tokens]
        for c in comments:
            i = bisect_left(starts, c.start_pos)
            if i > 0 and self.tokens[i - 1].end_line == c.line and (i - 1) not in self.trail:
                self.trail[i - 1] = c
            else:
                self.lead.setdefault(i, []).append(c)
        # prefix counts: how many tokens before i carry a comment, or are `->` starting a line
        self.kept = {i for i, t in enumerate(self.tokens)
                     if i > 0 and str(t) == "->" and self.tokens[i - 1].end_line < t.line}
        marks_lead, marks_trail = [0], [0]
        for i in range(len(self.tokens)):
            marks_lead.append(marks_lead[-1] + (i in self.lead or i in self.kept))
            marks_trail.append(marks_trail[-1] + (i in self.trail))
        self.marks_lead, self.marks_trail = marks_lead, marks_trail
        self.flats: dict[int, str] = {}
        self.spans: dict[int, tuple[int, int]] = {}
        self.layouts: dict[tuple[int, int, int], list[tuple]] = {}

    # ---- what a node covers ----
    def span(self, node) -> tuple[int, int]:
        """(first, last) token index."""
        if isinstance(node, Token):
            i = self.index[id(node)]
            return i, i
        key = id(node)
        if key not in self.spans:
            first = last = node
            while isinstance(first, Tree):
                first = _kids(first)[0]
            while isinstance(last, Tree):
                last = _kids(last)[-1]
            self.spans[key] = (self.index[id(first)], self.index[id(last)])
        return self.spans[key]

    def hard(self, node) -> bool:
        """Comments or kept `->` breaks inside the node (its first token's own-line comments
        and its last token's trailing comment are outside): it cannot be one line."""
        a, b = self.span(node)
        return (self.marks_lead[b + 1] - self.marks_lead[a + 1] > 0
                or self.marks_trail[b] - self.marks_trail[a] > 0)

    # ---- one line ----
    def flat(self, node) -> str:
        if isinstance(node, Token):
            return _spelling(node)
        key = id(node)
        if key not in self.flats:
            self.flats[key] = self._flat(node)
        return self.flats[key]

    def _flat(self, node: Tree) -> str:
        k, f = _kids(node), self.flat
        d = node.data
        if d == "pipe":
            source, stages = self.chain(node)
            return " -> ".join([f(source)] + [f(s) for _, s in stages])
        if d in _BINARY:
            return f"{f(k[0])} {f(k[1])} {f(k[2])}"
        if d == "neg":
            return "-" + f(k[1])
        if d == "not_op":
            return "not " + f(k[1])
        if d == "if_expr":
            return f"if {f(k[1])} {{ {f(k[3])} }} else {{ {f(k[7])} }}"
        if d == "call":
            return f(k[0]) + "(" + ", ".join(f(a) for a in self.items(k[1:])) + ")"
        if d in _LISTS:
            opener = [t for t in k if isinstance(t, Token) and str(t) in "([{"][0]
            head = "".join(f(t) for t in k[:k.index(opener)])
            items = self.items(k[k.index(opener):])
            one = "," if d == "tuple_lit" and len(items) == 1 else ""
            return head + str(opener) + ", ".join(f(x) for x in items) + one + _CLOSE[str(opener)]
        if d == "atom":
            return "(" + f(k[1]) + ")"
        if d == "kw_arg":
            return f"{f(k[0])}={f(k[2])}"
        if d == "entry":
            return f"{f(k[0])}: {f(k[2])}"
        if d == "param":
            name, typed = f(k[0]), ":" in map(str, k[1:2])
            out = name + (f": {f(k[2])}" if typed else "")
            if "=" in [str(t) for t in k if isinstance(t, Token)]:
                out += (" = " if typed else "=") + f(k[-1])
            return out
        if d == "where":
            return "where " + ", ".join(f(x) for x in self.items(k[1:]))
        return " ".join(f(c) for c in k)      # atoms, types, pos_arg

    def chain(self, node: Tree) -> tuple[object, list[tuple[Token, object]]]:
        stages = []
        while isinstance(node, Tree) and node.data == "pipe":
            left, arrow, stage = _kids(node)
            stages.append((arrow, stage))
            node = left
        return node, stages[::-1]

    def items(self, between: list) -> list:
        """The elements of a bracketed list: the children between the brackets, commas out."""
        return [c for c in between if not (isinstance(c, Token) and str(c) in ",()[]{}")]

    # ---- layout ----
    def tok(self, tok: Token, col: int) -> _Block:
        i = self.index[id(tok)]
        b = _Block(col)
        for c in self.lead.get(i, ()):
            b.lines.insert(-1, _Line(col, "", c))
        b.add(_spelling(tok))
        b.lines[-1].comment = self.trail.get(i)
        return b

    def flat_block(self, node, col: int) -> _Block:
        a, z = self.span(node)
        b = _Block(col)
        for c in self.lead.get(a, ()):
            b.lines.insert(-1, _Line(col, "", c))
        b.add(self.flat(node))
        b.lines[-1].comment = self.trail.get(z)
        return b

    def fits(self, node, col: int, tail: int = 0) -> bool:
        return not self.hard(node) and col + len(self.flat(node)) + tail <= WIDTH

    def starts_comment(self, node) -> bool:
        return self.span(node)[0] in self.lead

    def render(self, node, col: int, tail: int = 0) -> _Block:
        """The node laid out from `col`, `tail` columns of text following its last line
        (remembered: the layouts tried for an enclosing node lay it out again)."""
        if isinstance(node, Token) or self.fits(node, col, tail):
            return self.flat_block(node, col)
        key = (id(node), col, tail)
        if key not in self.layouts:
            self.layouts[key] = [(x.col, x.text, x.comment) for x in self._render(node, col, tail).lines]
        b = _Block(col)
        b.lines = [_Line(*x) for x in self.layouts[key]]
        return b

    def _render(self, node: Tree, col: int, tail: int) -> _Block:
        d, k = node.data, _kids(node)
        if d == "pipe":
            return self.render_chain(node, col, tail)
        if d in _BINARY:
            return self.render_binary(node, col, tail)
        if d == "if_expr":
            return self.render_if(k, col, tail)
        if d == "call":
            return self.fill(self.render(k[0], col), k[1:], tail)
        if d in _LISTS:
            at = next(i for i, t in enumerate(k) if isinstance(t, Token) and str(t) in "([{")
            return self.fill(self.seq(col, k[:at]), k[at:], tail, one_tuple=d == "tuple_lit")
        if d == "where":
            return self.fill(self.seq(col, [k[0], " "]), k[1:], tail, brackets=False)
        last = lambda c: self.render(k[-1], c, tail)           # noqa: E731
        if d == "param":
            typed = ":" in map(str, k[1:2])
            parts = [k[0]] + ([k[1], " ", k[2]] if typed else [])
            if len(k) in (3, 5) and str(k[-2]) == "=":
                parts += [" ", k[-2], " ", last] if typed else [k[-2], last]
            return self.seq(col, parts)
        if d == "pos_arg":
            return self.render(k[0], col, tail)
        if d in ("neg", "not_op"):
            return self.seq(col, [k[0]] + ([" "] if d == "not_op" else []) + [last])
        if d == "kw_arg":
            return self.seq(col, [k[0], k[1], last])
        if d == "entry":
            return self.seq(col, [k[0], k[1], " ", last])
        if d == "atom":
            return self.seq(col, [k[0], lambda c: self.render(k[1], c, tail + 1), k[2]])
        return self.flat_block(node, col)

    def seq(self, col: int, parts: list) -> _Block:
        """Tokens, literal text, nodes and layouts (functions of the column) on one line."""
        b = _Block(col)
        for p in parts:
            if isinstance(p, Token):
                b.join(self.tok(p, b.end))
            elif isinstance(p, str):
                b.add(p)
            elif isinstance(p, Tree):
                b.join(self.render(p, b.end))
            else:
                b.join(p(b.end))
        return b

    def render_chain(self, node: Tree, col: int, tail: int) -> _Block:
        source, stages = self.chain(node)
        under_arrow = self.lay_chain(source, stages, col, tail, under_arrow=True)
        if under_arrow is not None and under_arrow.width() <= WIDTH:
            return under_arrow
        at_start = self.lay_chain(source, stages, col, tail, under_arrow=False)
        if under_arrow is None or at_start.width() < under_arrow.width():
            return at_start
        return under_arrow

    def lay_chain(self, source, stages, col: int, tail: int, under_arrow: bool) -> _Block | None:
        """Stages filled on lines continuing under the first `->` (or under the chain's start);
        None when the first `->` starts a line."""
        b = self.render(source, col)
        anchor = b.end + 1 if under_arrow else col
        for n, (arrow, stage) in enumerate(stages):
            t = tail if n == len(stages) - 1 else 0
            i = self.index[id(arrow)]
            forced = i in self.kept or i in self.lead or b.closed
            if n == 0 and under_arrow and forced:
                return None
            if (n == 0 and under_arrow) or (not forced and self.fits(stage, b.end + 4, t)):
                b.add(" ")
                b.join(self.stage(arrow, stage, b.end, t))
            else:
                b.below(self.stage(arrow, stage, anchor, t))
        return b

    def stage(self, op: Token, operand, col: int, tail: int) -> _Block:
        return self.seq(col, [op, " ", lambda c: self.render(operand, c, tail)])

    def operands(self, node: Tree) -> tuple[object, list[tuple[Token, object]]]:
        """`a + b - c` -> (a, [(+, b), (-, c)]): one operator precedence, left to right."""
        top, rest = node, []
        while True:
            left, op, right = _kids(node)
            rest.append((op, right))
            node = left
            if (top.data == "pow_op" or not isinstance(node, Tree) or node.data != top.data
                    or _kids(node)[1].type != _kids(top)[1].type):
                return node, rest[::-1]

    def render_binary(self, node: Tree, col: int, tail: int) -> _Block:
        first, rest = self.operands(node)
        b = self.render(first, col)
        for n, (op, right) in enumerate(rest):
            t = tail if n == len(rest) - 1 else 0
            width = len(_spelling(op)) + 1 + len(self.flat(right))
            forced = b.closed or self.index[id(op)] in self.lead
            here = not forced and not self.hard(right) and b.end + 1 + width + t <= WIDTH
            helps = not self.hard(right) and col + width + t <= WIDTH
            if forced or (not here and helps):
                b.below(self.stage(op, right, col, t))
            else:                        # it fits here, or breaking would not make it fit
                b.add(" ")
                b.join(self.stage(op, right, b.end, t))
        return b

    def render_if(self, k: list, col: int, tail: int) -> _Block:
        """if COND {
               THEN
           } else { ELSE }     (or ELSE on lines of its own, like THEN)"""
        b = self.seq(col, [k[0], " ", lambda c: self.render(k[1], c, 2), " ", k[2]])
        b.below(self.render(k[3], col + INDENT))
        b.below(self.seq(col, [k[4], " ", k[5], " ", k[6]]))
        if not b.closed and self.fits(k[7], b.end + 1, 2 + tail):
            return b.join(self.seq(b.end, [" ", k[7], " ", k[8]]))
        b.below(self.render(k[7], col + INDENT))
        return b.below(self.tok(k[8], col))

    def fill(self, b: _Block, rest: list, tail: int, brackets: bool = True,
             one_tuple: bool = False) -> _Block:
        """`rest`: the opening bracket, the items and commas, the closing bracket (or the
        items alone): as many items on a line as fit, continuation lines after the opening
        bracket. A trailing comma is dropped (its comments kept)."""
        closer = None
        if brackets:
            b.join(self.tok(rest[0], b.end))
            rest, closer = rest[1:-1], rest[-1]
        elements = self.items(rest)
        commas = [c for c in rest if isinstance(c, Token) and str(c) == ","]
        anchor = b.end
        for n, item in enumerate(elements):
            last = n == len(elements) - 1
            comma = n < len(commas) and (not last or one_tuple)
            t = (int(comma) + int(brackets) + tail) if last else 1
            if n == 0:
                b.join(self.render(item, b.end, t))
            elif not b.closed and not self.starts_comment(item) and self.fits(item, b.end + 1, t):
                b.add(" ")
                b.join(self.render(item, b.end, t))
            else:
                b.below(self.render(item, anchor, t))
            if comma:
                b.join(self.tok(commas[n], b.end))
            elif n < len(commas):
                self.keep_comments(b, commas[n], anchor)
        if closer is not None:
            if b.closed or self.starts_comment(closer):
                b.below(self.tok(closer, anchor))
            else:
                b.join(self.tok(closer, b.end))
        return b

    def keep_comments(self, b: _Block, tok: Token, col: int) -> None:
        """The comments of a token fmt drops, on lines of their own."""
        i = self.index[id(tok)]
        for c in self.lead.get(i, []) + ([self.trail[i]] if i in self.trail else []):
            b.lines.append(_Line(col, "", c))

    # ---- statements and definitions ----
    def statement(self, node: Tree, col: int) -> _Block:
        try:
            return self._statement(node, col)
        except LayoutError:
            return self.verbatim(node, col)

    def _statement(self, node: Tree, col: int) -> _Block:
        k = _kids(node)
        if node.data == "input_stmt":               # input NAME : TYPE [where ...]
            return self.seq(col, [k[0], " ", k[1], k[2], " "] + _between(k[3:], " "))
        if node.data == "return_stmt":
            b = self.seq(col, [k[0], " "])
            if len(k) == 2:
                return b.join(self.render(k[1], b.end))
            return self.fill(b, k[1:], 0, brackets=False)
        # `output a, b = e`, `a, b = e`, `output a`
        parts = []
        for c in k:
            if isinstance(c, Token) and str(c) == "=":
                parts.append(" ")
            parts.append(c)
            if isinstance(c, Token) and (c.type == "OUTPUT" or str(c) in (",", "=")):
                parts.append(" ")
        return self.seq(col, parts)

    def verbatim(self, node, col: int) -> _Block:
        """The node's source lines as written, moved to `col`: its comments sit where no line
        can break."""
        a, z = self.span(node)
        first = self.tokens[a]
        end = self.trail[z].end_pos if z in self.trail else self.tokens[z].end_pos
        shift = col - (first.column - 1)
        lines = self.text[first.start_pos:end].split("\n")
        b = _Block(col).add(lines[0].rstrip())
        for line in lines[1:]:
            indent = len(line) - len(line.lstrip()) + shift
            b.lines.append(_Line(max(0, indent) if line.strip() else 0, line.strip()))
        return b

    def leading(self, node, col: int, first: bool, blank: bool = False) -> list[_Line]:
        """The own-line comments before the node, and the blank lines of the source among
        them (`first`: none before the first; `blank`: exactly one before it)."""
        a = self.span(node)[0]
        own = self.lead.get(a, [])
        out = []
        for n, x in enumerate(own + [self.tokens[a]]):
            if (n == 0 and blank) or ((n > 0 or not first) and self.blank_above(x, a)):
                out.append(_Line(0))
            if n < len(own):
                out.append(_Line(col, "", x))
        self.lead.pop(a, None)
        return out

    def blank_above(self, item: Token, i: int) -> bool:
        """Whether the source has a blank line between `item` (token i or one of its own-line
        comments) and what precedes it."""
        before = [c for c in self.lead.get(i, ()) if c.start_pos < item.start_pos]
        if before:
            prev_line = before[-1].end_line
        elif i > 0:
            prev_line = self.trail[i - 1].line if i - 1 in self.trail else self.tokens[i - 1].end_line
        else:
            return False
        return item.line - prev_line >= 2

    def definition(self, node: Tree) -> list[_Line]:
        k = _kids(node)
        if node.data == "import_stmt":
            return self.seq(0, [k[0], " ", k[1]]).lines
        brace = next(i for i, c in enumerate(k) if isinstance(c, Token) and str(c) == "{")
        head = k[:brace + 1]                        # model NAME [params] {
        try:
            lines = self.seq(0, [k[0], " "] + head[1:-1] + [" ", k[brace]]).lines
        except LayoutError:
            lines = self.verbatim(Tree("header", head), 0).lines
        body = k[brace + 1:-1]
        for n, stmt in enumerate(body):
            lines += self.leading(stmt, INDENT, first=n == 0)
            lines += self.statement(stmt, INDENT).lines
        lines += self.closing(self.index[id(k[-1])], INDENT, first=not body)
        lines.append(_Line(0, "}", self.trail.get(self.index[id(k[-1])])))
        return lines

    def closing(self, i: int, col: int, first: bool) -> list[_Line]:
        """The own-line comments before token i (a body's `}`, or the end of the file)."""
        out = []
        for n, c in enumerate(self.lead.get(i, [])):
            if (n > 0 or not first) and self.blank_above(c, i):
                out.append(_Line(0))
            out.append(_Line(col, "", c))
        return out

    def file(self) -> str:
        lines: list[_Line] = []
        items = _kids(self.cst)
        for n, item in enumerate(items):
            lines += self.leading(item, 0, first=n == 0, blank=n > 0)
            lines += self.definition(item)
        lines += self.closing(len(self.tokens), 0, first=not items)
        return "".join(_show(line) + "\n" for line in lines)


_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _between(parts: list, sep: str) -> list:
    out = []
    for p in parts:
        out += [sep, p] if out else [p]
    return out


def _show(line: _Line) -> str:
    code = " " * line.col + line.text if line.text else ""
    if line.comment is None:
        return code.rstrip()
    comment = str(line.comment).rstrip()
    if not line.text:
        return " " * line.col + comment
    want = line.comment.column - 1
    return code + " " * (want - line.end if want - line.end >= 2 else 2) + comment
