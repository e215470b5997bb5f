"""dslc fmt: rewrite specs in the canonical layout (dslc/syntax/fmt.py), comments kept.

`dslc fmt FILES` rewrites each file that changes (atomically) and names it; `--check` writes
nothing, names the files that would change and exits 1 if any would; `--diff` prints what
would change instead of writing; `-` reads stdin and writes the result to stdout. A spec that
does not parse is never rewritten: its diagnostic on stderr, exit 1."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

from ..diagnostics import SourceMap, render, use_color
from ..syntax.fmt import format_text
from .common import atomic_write, read


def run(args) -> int:
    failed = changed = False
    rewrite = not args.check and not args.diff
    for path in args.files:
        text = read(path)          # `-`: standard input, bounded as a file is
        name = "<stdin>" if path == "-" else path
        out, diags = format_text(text, name)
        if out is None:
            for d in diags:
                print(render(d, SourceMap({name: text}), use_color(sys.stderr)), file=sys.stderr)
            failed = True
            continue
        changed |= out != text
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                                       f"{name} (original)", f"{name} (formatted)"))
        if path == "-":
            if rewrite:
                sys.stdout.write(out)
        elif out != text and rewrite:
            atomic_write(Path(path), lambda tmp: Path(tmp).write_text(out, encoding="utf-8"))
            print(f"reformatted {path}")
        elif out != text and not args.diff:
            print(f"would reformat {path}")
    return 1 if failed or (args.check and changed) else 0


def register(sub) -> None:
    c = sub.add_parser("fmt", help="rewrite specs in the canonical layout")
    c.add_argument("files", nargs="+", metavar="FILE", help="spec files; - reads stdin, writes stdout")
    c.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change, exit 1 if any")
    c.add_argument("--diff", action="store_true", help="write nothing; print the changes")
    c.set_defaults(fn=run)
