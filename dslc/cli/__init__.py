"""dslc's command line: check | summary | compile | run. Exit 0 ok, 1 spec errors, 2 usage/IO.

Thin on purpose: everything it prints comes from the API, the summary module and the
diagnostics' renders. `check` and `summary` import neither torch nor onnx. Each command is a
module here with `register(sub)` (its arguments; `fn` is its `run(args)`)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from .. import __version__
from ..diagnostics import SpecError, render, use_color, visible
from .common import Parser, Usage, failure_json

COMMANDS = ("check", "summary", "compile", "run", "generate", "import_", "fmt", "ops", "diff", "graph")   # modules; import_ adds `import`


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="dslc", description="Compile neural-network specs (.dl).")
    p.add_argument("--version", action="version", version=f"dslc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
        return args.fn(args)
    except Usage as e:         # under --json, stdout still gets a JSON document
        if "--json" in argv:
            print(json.dumps(failure_json(f"{e.prefix}: {e}"), indent=2))
        print(f"{e.usage}{e.prefix}: {visible(str(e))}", file=sys.stderr)   # one line, printable
        return 2
    except SpecError as e:     # a backend that cannot express a node (E401)
        for d in e.diagnostics:
            print(render(d, e.sources, use_color(sys.stderr)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except MemoryError:        # past every estimate (--max-memory raised, a ulimit): one line
        print(f"dslc {argv[0] if argv else ''}: out of memory; nothing was written (a smaller "
              "model, --dim or --max-memory within this machine's memory)".replace("  ", " "),
              file=sys.stderr)
        return 1
    except BrokenPipeError:    # `dslc check --json spec.dl | head`: the reader left early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
