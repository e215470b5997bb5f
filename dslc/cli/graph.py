"""dslc graph: a picture of a model: DOT or Mermaid text, or SVG/PNG through Graphviz."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .common import Usage, atomic_write, load, pick

FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".svg": "svg", ".png": "png"}


def run(args) -> int:
    if args.depth is not None and args.depth < 0:
        raise Usage("--depth must be >= 0")
    fmt = args.format or (FORMATS.get(Path(args.output).suffix.lower()) if args.output else "dot")
    if fmt is None:
        raise Usage(f"cannot tell the format of '{args.output}': name a .dot, .mmd, .svg or .png "
                    "file, or give --format")
    dot_bin = shutil.which("dot") if fmt in ("svg", "png") else None
    if fmt in ("svg", "png") and dot_bin is None:
        raise Usage(f"{fmt} needs Graphviz's `dot` on PATH (not found): write a .dot or .mmd file "
                    "instead, or install graphviz")
    program = load(args.spec)
    if program.errors:
        return 1
    model = pick(program, args.model)
    from ..tools import graph
    text = graph.mermaid(model, args.depth) if fmt == "mermaid" else graph.dot(model, args.depth)
    if fmt in ("svg", "png"):
        done = subprocess.run([dot_bin, f"-T{fmt}"], input=text.encode(), capture_output=True)
        if done.returncode != 0:
            raise Usage("dot failed: " + done.stderr.decode(errors="replace").strip()[:300])
        data = done.stdout
        atomic_write(Path(args.output), lambda tmp: Path(tmp).write_bytes(data))
    elif args.output:
        atomic_write(Path(args.output), lambda tmp: Path(tmp).write_text(text))
    else:
        sys.stdout.write(text)
    return 0


def register(sub) -> None:
    g = sub.add_parser("graph", help="draw a model: DOT, Mermaid, or SVG/PNG with Graphviz")
    g.add_argument("spec")
    g.add_argument("-o", "--output", help="out.dot, out.mmd, out.svg or out.png (default: DOT on stdout)")
    g.add_argument("--format", choices=("dot", "mermaid", "svg", "png"),
                   help="the format, when the output's suffix does not say")
    g.add_argument("--model")
    g.add_argument("--depth", type=int, help="fold blocks nested deeper than this into one box")
    g.set_defaults(fn=run)
