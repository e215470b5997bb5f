"""dslc check: diagnostics on stderr, one line per model (or the JSON document); several
files in one run, budgets (--max-params, --max-macs) checked at each model's line, and
`--target` the instances a backend refuses (E401), found by lowering without weights."""
from __future__ import annotations

import json
import os
import sys
import time

from ..diagnostics import render, use_color
from .common import Usage, load, parse_dims

WATCH_POLL = 0.2          # seconds between two looks at the files under --watch


def _budgets(args) -> dict:
    from ..tools.budgets import parse_count
    out = {}
    for key, flag in (("params", "--max-params"), ("macs", "--max-macs")):
        text = getattr(args, f"max_{key}")
        if text is not None:
            try:
                out[key] = (parse_count(text), f"{flag} {text}")
            except ValueError as e:
                raise Usage(f"{flag}: {e}")
    return out


def _check(path: str, budgets: dict, dims: dict, targets=()):
    """(program, the budget and backend diagnostics) of one file, every diagnostic printed on
    stderr."""
    program = load(path)
    over = []
    if budgets and not program.errors:
        from ..tools.budgets import check_budgets
        for m in program.models.values():
            over += check_budgets(m, budgets.get("params", (None,))[0],
                                  budgets.get("macs", (None,))[0], dims,
                                  {k: flag for k, (_, flag) in budgets.items()})
    if not program.errors:
        over += [d for m in program.models.values() for t in targets for d in refusals(m, t)]
    for d in over:
        print(render(d, program.sources, use_color(sys.stderr)), file=sys.stderr)
    return program, over


def refusals(model, target: str) -> list:
    """The E401s of lowering `model` to `target` without weights: torch's modules on the meta
    device, the ONNX graph with its parameters as inputs, the torch source."""
    from ..backends import BackendError
    try:
        if target == "torch":
            import torch

            from ..backends.torch.module import DslcModule
            with torch.device("meta"):
                DslcModule(model)
        elif target == "onnx":
            model.to_onnx(weightless=True)
        else:
            model.to_torch_src()
    except BackendError as e:
        return e.diagnostics
    return []


def run(args) -> int:
    budgets, dims = _budgets(args), parse_dims(args.dim)
    if args.watch:
        if "-" in args.spec:
            raise Usage("--watch re-reads files: standard input cannot be watched")
        return _watch(args, budgets, dims)
    code, _ = _once(args, budgets, dims)
    return code


def _once(args, budgets: dict, dims: dict, keep_going: bool = False) -> tuple[int, set[str]]:
    """Check every file once: (the exit code, every file read, imports included)."""
    docs, code, failed, read = [], 0, [], set(args.spec)
    for path in args.spec:
        try:
            program, over = _check(path, budgets, dims, args.target or ())
        except Usage as e:
            if len(args.spec) == 1 and not keep_going:
                raise
            print(f"{e.prefix}: {e}", file=sys.stderr)       # the other files are still checked
            failed.append(str(e))
            code = max(code, 2)
            continue
        read |= {f for f in program.sources.texts if f != path}
        if program.errors or over:
            code = max(code, 1)
        if args.json:
            from ..tools.summary import check_json
            doc = check_json(program)
            doc["diagnostics"] += [d.to_json() for d in over]
            docs.append({**doc, "models": [{"file": path, **m} for m in doc["models"]]})
        elif not program.errors:
            from ..tools.summary import one_line
            over_lines = {d.span.line for d in over}
            for m in program.models.values():
                if m.span.line not in over_lines:     # a model over its budget fails
                    print(one_line(m))
            if not program.models:
                print(f"{path}: no models; blocks {', '.join(program.blocks)}")
    if args.json:
        # one document for all the files: their models and diagnostics (each names its file);
        # under --watch one line per check (a stream of JSON documents)
        print(json.dumps({"models": [m for d in docs for m in d["models"]],
                          "diagnostics": [x for d in docs for x in d["diagnostics"]],
                          "error": "; ".join(failed) or None}, indent=None if args.watch else 2),
              flush=True)
    sys.stdout.flush()
    return code, read


def _stamp(files) -> dict:
    out = {}
    for f in files:
        try:
            st = os.stat(f)
            out[f] = (st.st_mtime_ns, st.st_size)
        except OSError:
            out[f] = None
    return out


def _watch(args, budgets: dict, dims: dict) -> int:
    """Check, then again whenever a spec or a file it imports changes (polled every
    WATCH_POLL seconds), in this process: a re-check costs the check, not a start-up. Ctrl-C
    stops it (exit 0); each re-check is announced on stderr with its time."""
    _, files = _once(args, budgets, dims, keep_going=True)
    stamps = _stamp(files)
    print(f"dslc check: watching {len(files)} file(s); Ctrl-C stops", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(WATCH_POLL)
            now = _stamp(files)
            if now == stamps:
                continue
            changed = sorted(f for f in now if now[f] != stamps.get(f))
            t0 = time.perf_counter()
            _, files = _once(args, budgets, dims, keep_going=True)
            stamps = _stamp(files)
            print(f"dslc check: {', '.join(changed)} changed; checked in "
                  f"{(time.perf_counter() - t0) * 1000:.0f} ms", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        return 0


def register(sub) -> None:
    c = sub.add_parser("check", help="check shapes and count parameters")
    c.add_argument("spec", nargs="+", help="one or more .dl files")
    c.add_argument("--json", action="store_true", help="print the JSON document")
    c.add_argument("--max-params", metavar="COUNT",
                   help="fail (E501) when a model has more parameters (25M, 1.5G: decimal)")
    c.add_argument("--max-macs", metavar="COUNT",
                   help="fail (E501) when a model has more MACs per example (5G)")
    c.add_argument("--dim", action="append", metavar="NAME=SIZE",
                   help="size of a symbolic dim, for --max-macs")
    c.add_argument("--target", action="append", choices=("torch", "torch-src", "onnx"),
                   help="also report what this backend refuses (E401), without weights; "
                        "repeatable")
    c.add_argument("--watch", action="store_true",
                   help="check again whenever a file (or one it imports) changes; Ctrl-C stops")
    c.set_defaults(fn=run)
