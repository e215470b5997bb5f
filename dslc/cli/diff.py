"""dslc diff: two models compared layer by layer (shapes, parameters, MACs)."""
from __future__ import annotations

import json

from .common import Usage, load, parse_dims, pick


def _model(path: str, name: str | None):
    """The model `path` names (`a.dl` or `a.dl:Model`); None when the spec has errors."""
    if ":" in path and not path.endswith(".dl"):
        path, name = path.rsplit(":", 1)
    program = load(path)
    return None if program.errors else pick(program, name)


def run(args) -> int:
    if args.depth is not None and args.depth < 0:
        raise Usage("--depth must be >= 0")
    a, b = _model(args.a, args.model), _model(args.b, args.model)
    if a is None or b is None:
        return 1
    from ..tools import diff
    dims = parse_dims(args.dim)
    if args.json:
        print(json.dumps(diff.to_json(a, b, args.depth, dims), indent=2))
    else:
        print(diff.text(a, b, args.depth, dims, all_rows=args.all))
    return 0


def register(sub) -> None:
    d = sub.add_parser("diff", help="compare two models layer by layer")
    d.add_argument("a", metavar="A.dl[:MODEL]")
    d.add_argument("b", metavar="B.dl[:MODEL]")
    d.add_argument("--model", help="the model to take from each file (or write FILE:MODEL)")
    d.add_argument("--depth", type=int, help="fold blocks nested deeper than this (as summary)")
    d.add_argument("--dim", action="append", metavar="NAME=SIZE", help="size of a symbolic dim")
    d.add_argument("--all", action="store_true", help="show the unchanged layers too")
    d.add_argument("--json", action="store_true", help="print the aligned rows as JSON")
    d.set_defaults(fn=run)
