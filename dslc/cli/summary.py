"""dslc summary: the per-layer table, the slides' compact notation, or a comparison line."""
from __future__ import annotations

from .common import Usage, load, parse_dims, pick


def run(args) -> int:
    program = load(args.spec)
    if program.errors:
        return 1
    from ..summary import compact, compare_line, table
    if args.compare:
        if args.model:
            raise Usage("--compare names its two models; leave out --model")
        if args.compare[0] == args.compare[1]:
            raise Usage("--compare wants two different models")
        models = [pick(program, name) for name in args.compare]
    else:
        models = [pick(program, args.model)] if args.model else list(program.models.values())
    if args.batch < 1 or (args.depth is not None and args.depth < 0):
        raise Usage("--batch must be >= 1 and --depth >= 0")
    if args.compact:
        print("\n\n".join(f"{m.name}:\n{compact(m)}" for m in models))
    else:
        print("\n\n".join(table(m, args.depth, args.batch, parse_dims(args.dim)) for m in models))
    if args.compare:
        print("\n" + compare_line(*models, parse_dims(args.dim)))
    return 0


def register(sub) -> None:
    s = sub.add_parser("summary", help="per-layer table")
    s.add_argument("spec")
    s.add_argument("--model")
    s.add_argument("--depth", type=int, help="fold blocks nested deeper than this (0: top-level blocks)")
    s.add_argument("--batch", type=int, default=1, help="batch size for the activation memory")
    s.add_argument("--dim", action="append", metavar="NAME=SIZE", help="size of a symbolic dim")
    s.add_argument("--compact", action="store_true",
                   help="the slides' notation: 100x100x1 -[4x4, 5]-> 97x97x5")
    s.add_argument("--compare", nargs=2, metavar=("REFERENCE", "MODEL"),
                   help="then one line: MODEL's parameters and MACs as a fraction of REFERENCE's")
    s.set_defaults(fn=run)
