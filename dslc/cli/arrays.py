"""Arrays from files: `--input` (.npy) and `--weights` (an .npz, a torch state_dict, a
.safetensors file, a sharded checkpoint's index or a folder: dslc.passes.checkpoints) renamed by
`--rename` and `--rename-file`. Never unpickled; an array's header is read first and its size
checked against the memory available and against the bytes the file holds, so a header claiming
4e11 floats is one line, not an allocation; weights must be dense, on a device, and finite
unless --allow-nonfinite."""
from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

from ..diagnostics import visible
from ..passes.checkpoints import (CheckpointError, RenameWarning, one_line, parse_rule,
                                  parse_rules, read_npy, read_weights as read_checkpoint)
from .common import Usage, read_bytes


def read_array(path: str):
    """An --input array: a .npy file as np.save writes it."""
    data = read_bytes(path)
    if not data.startswith(b"\x93NUMPY"):
        raise Usage(f"cannot read '{path}': not a .npy file (np.save writes one)")
    try:
        return read_npy(lambda: io.BytesIO(data), len(data))
    except (ValueError, OSError, EOFError) as e:
        raise Usage(f"cannot read '{path}' as a .npy array: {one_line(e)}")


def read_weights(args) -> dict:
    """--weights FILE renamed by the --rename and --rename-file rules, in the order given
    (a rule that matches no key is a warning on stderr); NaN or inf refused unless
    --allow-nonfinite. Every problem is one line (Usage, exit 2)."""
    try:
        rules = _rules(args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RenameWarning)
            weights = read_checkpoint(args.weights, rules, args.allow_nonfinite)
    except CheckpointError as e:
        raise Usage(str(e))
    for w in caught:
        if issubclass(w.category, RenameWarning):
            print(f"dslc {args.command}: warning: {visible(str(w.message))}", file=sys.stderr)
        else:                   # a library's own, shown as it would have been
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return weights


def _rules(args) -> list:
    """The rules of --rename RULE and --rename-file FILE, in the order the flags were given."""
    rules, n = [], 0
    for flag, value in args.rename or ():
        if flag == "--rename":
            n += 1
            rules.append(parse_rule(value, f"--rename {n}"))
        else:
            rules += parse_rules(Path(value))
    return rules


def renames_need_weights(args) -> None:
    if args.rename and not args.weights:
        raise Usage(f"{args.rename[0][0]} renames the keys of --weights FILE: give one")
