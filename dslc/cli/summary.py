"""dslc summary: the per-layer table, the slides' compact notation, or a comparison line."""
from __future__ import annotations

import json

from .common import Usage, load, parse_dims, pick


def run(args) -> int:
    program = load(args.spec)     # diagnostics on stderr in both forms
    if args.json and args.compact:
        raise Usage("--json and --compact are two forms of the output: choose one")
    if program.errors:
        if args.json:
            from ..tools.summary import check_json
            print(json.dumps(check_json(program), indent=2))
        return 1
    from ..tools.summary import compact, compare_line, summary_json, table
    if args.compare:
        if args.model:
            raise Usage("--compare names its two models; leave out --model")
        if args.compare[0] == args.compare[1]:
            raise Usage("--compare wants two different models")
        models = [pick(program, name) for name in args.compare]
    else:
        models = [pick(program, args.model)] if args.model else list(program.models.values())
    if (args.batch is not None and args.batch < 1) or (args.depth is not None and args.depth < 0):
        raise Usage("--batch must be >= 1 and --depth >= 0")
    dims, batch = _sizes(models, parse_dims(args.dim), args.batch)
    if args.json:
        print(json.dumps(summary_json(program, models, args.depth, batch, dims,
                                      compared=bool(args.compare)), indent=2))
        return 0
    if args.compact:
        print("\n\n".join(f"{m.name}:\n{compact(m, args.depth, dims)}" for m in models))
    else:
        print("\n\n".join(table(m, args.depth, batch, dims) for m in models))
    if args.compare:
        print("\n" + compare_line(*models, dims))
    return 0


def _sizes(models, dims: dict, batch: int | None) -> tuple[dict, int]:
    """--dim and --batch checked against the models (summary.concrete): a name must be a
    symbol of one of them, and fit the `where` domain of each that has it."""
    from ..tools.summary import concrete
    known = {s for m in models for s in m.symbols()}
    unknown = sorted(set(dims) - known)
    if unknown:
        raise Usage(f"--dim names {', '.join(unknown)}, not a symbolic dim of "
                    f"{', '.join(m.name for m in models)} (symbols: {', '.join(sorted(known)) or 'none'})")
    out = set()
    for m in models:
        try:
            out.add(concrete(m, {k: v for k, v in dims.items() if k in m.symbols()}, batch)[1])
        except ValueError as e:
            raise Usage(f"model {m.name}: {e}")
    return dims, (max(out) if out else batch or 1)


def register(sub) -> None:
    s = sub.add_parser("summary", help="per-layer table")
    s.add_argument("spec")
    s.add_argument("--model")
    s.add_argument("--depth", type=int, help="fold blocks nested deeper than this (0: top-level blocks)")
    s.add_argument("--batch", type=int, help="batch size for the activation memory (default 1, "
                   "or the batch symbol's --dim)")
    s.add_argument("--dim", action="append", metavar="NAME=SIZE", help="size of a symbolic dim")
    s.add_argument("--json", action="store_true",
                   help="print the JSON document (check --json's, with MACs and activation bytes)")
    s.add_argument("--compact", action="store_true",
                   help="the slides' notation: 100x100x1 -[4x4, 5]-> 97x97x5")
    s.add_argument("--compare", nargs=2, metavar=("REFERENCE", "MODEL"),
                   help="then one line: MODEL's parameters and MACs as a fraction of REFERENCE's")
    s.set_defaults(fn=run)
