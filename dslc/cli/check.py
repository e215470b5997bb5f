"""dslc check: diagnostics on stderr, one line per model (or the JSON document)."""
from __future__ import annotations

import json

from .common import load


def run(args) -> int:
    program = load(args.spec)      # diagnostics on stderr in both forms
    if args.json:
        from ..summary import check_json
        print(json.dumps(check_json(program), indent=2))
        return 1 if program.errors else 0
    if program.errors:
        return 1
    from ..summary import one_line
    for m in program.models.values():
        print(one_line(m))
    if not program.models:
        print(f"{args.spec}: no models; blocks {', '.join(program.blocks)}")
    return 0


def register(sub) -> None:
    c = sub.add_parser("check", help="check shapes and count parameters")
    c.add_argument("spec")
    c.add_argument("--json", action="store_true", help="print the JSON document")
    c.set_defaults(fn=run)
