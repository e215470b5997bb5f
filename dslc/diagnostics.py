"""Diagnostics are values: one `Diagnostic` per problem, two renders (short and full).

Codes are stable: E1xx syntax, E2xx names and arguments, E3xx shapes, E4xx backends.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

CODES: dict[str, str] = {
    "E100": "unreadable file",
    "E101": "unexpected token",
    "E102": "unexpected character",
    "E103": "unexpected end of file",
    "E104": "import cycle",
    "E105": "import path not allowed (absolute, or not a .dl file)",
    "E201": "unknown name",
    "E202": "unknown op or block",
    "E203": "unknown argument",
    "E204": "missing argument",
    "E205": "invalid argument value",
    "E206": "duplicate definition",
    "E207": "too many arguments",
    "E208": "wrong number of inputs",
    "E209": "not a tensor / not a layer",
    "E210": "model problem (no outputs, unknown model)",
    "E301": "rank mismatch",
    "E302": "shapes do not match",
    "E303": "size does not fit",
    "E304": "symbolic size where a known size is needed",
    "E305": "divisibility",
    "E306": "dtype mismatch",
    "E307": "beyond a stated limit (a size, count, repeat or nesting depth too large)",
    "E401": "backend cannot express this",
    "E501": "over a budget (dslc check --max-params / --max-macs)",
    "W201": "a layer whose result is never used",
}


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


MAX_TEXT = 1000         # characters of a message, expected, got or help


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    expected: str | None = None
    got: str | None = None
    notes: tuple[tuple[Span | None, str], ...] = ()
    help: str | None = None
    severity: str = "error"
    # conditions on the input sizes, any one of which would make this error go (ir.dims.Requirement)
    requires: tuple = ()

    def __post_init__(self):
        """Text quoted from a spec (an einsum equation, a string argument) can be a megabyte:
        each text field keeps its first and last MAX_TEXT // 2 characters."""
        for name in ("message", "expected", "got", "help"):
            text = getattr(self, name)
            if text is not None and len(text) > MAX_TEXT:
                cut = len(text) - MAX_TEXT
                object.__setattr__(self, name, f"{text[:MAX_TEXT // 2]}[... {cut:,} characters]"
                                               f"{text[-(MAX_TEXT // 2):]}")

    def short(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}{self.severity}[{self.code}]: {self.message}"

    def to_json(self) -> dict:
        """Every field of the full render: the span (null where there is none), expected, got,
        help (null when absent) and the notes, each with its own span."""
        return {"severity": self.severity, "code": self.code, "message": self.message,
                **_span_json(self.span), "expected": self.expected, "got": self.got,
                "notes": [{"message": text, **_span_json(span)} for span, text in self.notes],
                "help": self.help, "requires": [
                    {"symbol": r.symbol, "kind": r.kind, "value": r.value} for r in self.requires]}


def _span_json(s: Span | None) -> dict:
    keys = ("file", "line", "col", "end_line", "end_col")
    return dict.fromkeys(keys) if s is None else {k: getattr(s, k) for k in keys}


def source_lines(text: str) -> list[str]:
    """The lines of spec text as the parser numbers them: split at `\n` only (lark's count).
    `str.splitlines` also splits at form feeds, U+2028 and other separators, which would put
    every diagnostic after one on the wrong line."""
    lines = text.split("\n")
    return lines[:-1] if len(lines) > 1 and not lines[-1] else lines


@dataclass
class SourceMap:
    """File name -> text, so renders can quote the offending line."""
    texts: dict[str, str] = field(default_factory=dict)

    def line(self, file: str, line: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        lines = source_lines(text)
        return lines[line - 1] if 0 < line <= len(lines) else None


EXCERPT_WIDTH = 100      # columns of a long line shown around the span (`...` for the rest)


def _excerpt(span: Span, sources: SourceMap, marker: str) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    width = max(1, (span.end_col - span.col) if span.end_line == span.line else len(text) - span.col + 1)
    start = span.col - 1
    if len(text) > EXCERPT_WIDTH:        # a window on the span, not a line of 200,000 columns
        first = max(0, min(start - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
        shown = text[first:first + EXCERPT_WIDTH]
        width = max(1, min(width, first + EXCERPT_WIDTH - start))
        start -= first
        if first:
            shown, start = "..." + shown, start + 3
        if first + EXCERPT_WIDTH < len(text):
            shown += "..."
        text = shown
    gutter = " " * len(str(span.line))
    return [f"{gutter} |", f"{span.line} | {visible(text)}",
            f"{gutter} | {' ' * start}{marker * width}"]


_ANSI = {"error": "1;31", "warning": "1;33", "caret": "1;31", "note": "1;36", "help": "1;32",
         "bold": "1"}


def use_color(stream) -> bool:
    """Colour for a terminal: `stream` a TTY, NO_COLOR unset, TERM not `dumb`."""
    import os
    return (hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ
            and os.environ.get("TERM") != "dumb")


def visible(text: str) -> str:
    """`text` safe to print: a control or invisible character (a form feed, U+2028, an escape
    sequence's ESC) becomes U+FFFD, one column as it was, so carets stay aligned and a spec
    cannot drive the terminal."""
    return text if text.isprintable() else "".join(
        c if c.isprintable() or c == "\t" else "\ufffd" for c in text)


def render(d: Diagnostic, sources: SourceMap, color: bool = False) -> str:
    """The full render: short line, source excerpt with caret, expected/got, notes, help;
    `color`: ANSI colours (the text is otherwise the same)."""
    def paint(text: str, what: str) -> str:
        return f"\x1b[{_ANSI[what]}m{text}\x1b[0m" if color else text

    def excerpt(span, marker, what):
        lines = _excerpt(span, sources, marker)
        return lines[:2] + [paint(lines[2], what)] if lines else []
    head = visible(d.short())
    if color:
        where, _, rest = head.rpartition(f"{d.severity}[{d.code}]: ")
        head = where + paint(f"{d.severity}[{d.code}]", d.severity) + paint(": " + rest, "bold")
    out = [head]
    if d.span:
        out += excerpt(d.span, "^", "caret" if d.severity == "error" else "warning")
    if d.expected is not None:
        out.append(f"  expected: {visible(d.expected)}")
    if d.got is not None:
        out.append(f"       got: {visible(d.got)}")
    for span, text in d.notes:
        out.append(paint("note", "note") + visible(f": {span}: {text}" if span else f": {text}"))
        if span:
            out += excerpt(span, "-", "note")
    if d.help:
        out.append(paint("help", "help") + visible(f": {d.help}"))
    return "\n".join(out)


def did_you_mean(word: str, choices) -> str | None:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


class SpecError(Exception):
    """Raised by the Python API when a spec has errors; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic], sources: SourceMap | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources or SourceMap()
        super().__init__("\n".join(render(d, self.sources) for d in self.diagnostics))
