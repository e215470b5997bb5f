"""dslc ops [NAME]: the ops (kind, family, the first sentence of each docstring), or one op's
entry of the language reference (dslc.tools.reference). Imports neither torch nor onnx."""
from __future__ import annotations

from ..diagnostics import did_you_mean
from .common import Usage


def run(args) -> int:
    from ..ops import INDEX
    from ..tools.reference import entry, op_table
    if args.name is None:
        print(op_table(), end="")
        return 0
    if args.name not in INDEX:
        hint = did_you_mean(args.name, INDEX)
        raise Usage(f"no op `{args.name}`" + (f"; {hint}" if hint else "")
                    + " (`dslc ops` lists them)")
    print(entry(args.name, markdown=False), end="")
    return 0


def register(sub) -> None:
    c = sub.add_parser("ops", help="list the ops, or print one op's reference entry")
    c.add_argument("name", nargs="?", help="an op, e.g. conv2d")
    c.set_defaults(fn=run)
