"""dslc's command line: check | summary | compile | run. Exit 0 ok, 1 spec errors, 2 usage/IO.

Thin on purpose: everything it prints comes from the API, the summary module and the
diagnostics' renders. `check` and `summary` import neither torch nor onnx."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .api import check_text
from .diagnostics import SpecError, render


class Usage(Exception):
    """A usage or I/O problem: one line on stderr, exit 2."""

    prefix = "dslc"


def _reason(e: Exception) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise Usage(f"cannot read '{path}': not UTF-8 text ({e.reason} at byte {e.start})")
    except OSError as e:
        raise Usage(f"cannot read '{path}': {_reason(e)}")


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise Usage(f"cannot read '{path}': {_reason(e)}")


def _program(path: str):
    program = check_text(_read(path), path)
    for d in program.diagnostics:
        print(render(d, program.sources), file=sys.stderr)
    return program


def _pick(program, name: str | None):
    if name is not None:
        if name not in program.models:
            raise Usage(f"no model `{name}` in the spec (it has {', '.join(program.models) or 'none'})")
        return program.models[name]
    if len(program.models) != 1:
        raise Usage(f"the spec has {len(program.models)} models ({', '.join(program.models)}): "
                    "choose one with --model")
    return next(iter(program.models.values()))


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: a failure never
    leaves a partial output behind."""
    if path.is_dir():
        raise Usage(f"cannot write '{path}': Is a directory")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as e:
        raise Usage(f"cannot write '{path}': {_reason(e)}")
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _need(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise Usage(f"this command needs {module}: pip install 'dslc[{extra}]'"
                    + (" (install torch==2.13.0 first for the CPU wheel)" if module == "torch" else ""))


# ---------------- commands ----------------
def cmd_check(args) -> int:
    program = _program(args.spec)      # diagnostics on stderr in both forms
    if args.json:
        from .summary import check_json
        print(json.dumps(check_json(program), indent=2))
        return 1 if program.errors else 0
    if program.errors:
        return 1
    from .summary import one_line
    for m in program.models.values():
        print(one_line(m))
    if not program.models:
        print(f"{args.spec}: no models; blocks {', '.join(program.blocks)}")
    return 0


def cmd_summary(args) -> int:
    program = _program(args.spec)
    if program.errors:
        return 1
    from .summary import compact, compare_line, table
    if args.compare:
        if args.model:
            raise Usage("--compare names its two models; leave out --model")
        if args.compare[0] == args.compare[1]:
            raise Usage("--compare wants two different models")
        models = [_pick(program, name) for name in args.compare]
    else:
        models = [_pick(program, args.model)] if args.model else list(program.models.values())
    if args.batch < 1 or (args.depth is not None and args.depth < 0):
        raise Usage("--batch must be >= 1 and --depth >= 0")
    if args.compact:
        print("\n\n".join(f"{m.name}:\n{compact(m)}" for m in models))
    else:
        print("\n\n".join(table(m, args.depth, args.batch, _dims(args.dim)) for m in models))
    if args.compare:
        print("\n" + compare_line(*models, _dims(args.dim)))
    return 0


def cmd_compile(args) -> int:
    program = _program(args.spec)
    if program.errors:
        return 1
    model = _pick(program, args.model)
    suffix = ".onnx" if args.target == "onnx" else ".pt"
    stem = Path(args.spec).stem + (f".{model.name}" if len(program.models) > 1 else "")
    out = Path(args.output) if args.output else Path(stem + suffix)
    if args.target == "onnx":
        _need("onnx", "onnx")
        proto = model.to_onnx(seed=args.seed, dtype=args.dtype)
        _atomic_write(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    else:
        torch = _need("torch", "torch")
        module = model.to_torch(seed=args.seed, dtype=args.dtype)
        _atomic_write(out, lambda tmp: torch.save(module, tmp))
    print(f"wrote {out} ({model.name}, {model.params:,} parameters, {args.target}"
          + (f", {args.dtype}" if args.dtype else "") + ")")
    return 0


def _dims(items) -> dict[str, int]:
    dims = {}
    for item in items or ():
        name, _, value = item.partition("=")
        if not name or not value.lstrip("-").isdigit() or int(value) < 1:
            raise Usage(f"--dim wants NAME=SIZE with a positive size, got '{item}'")
        dims[name] = int(value)
    return dims


def _feeds(sess, args):
    import numpy as np
    from .backends.ort import NUMPY_DTYPES, random_inputs
    metas = {i.name: i for i in sess.get_inputs()}
    given = {}
    for item in args.input or ():
        name, _, file = item.partition("=")
        if not file:
            raise Usage(f"--input wants NAME=FILE.npy, got '{item}'")
        if name not in metas:
            raise Usage(f"--input names an unknown input `{name}` (inputs: {', '.join(metas)})")
        try:
            x = np.load(file, allow_pickle=False)
        except OSError as e:
            raise Usage(f"cannot read '{file}': {_reason(e)}")
        except ValueError as e:
            raise Usage(f"cannot read '{file}' as a .npy array: {e}")
        want = NUMPY_DTYPES.get(metas[name].type)
        if want is not None and x.dtype != want and _same_kind(x.dtype, np.dtype(want)):
            x = x.astype(want)          # np.save of Python floats gives float64 for an f32 input
        given[name] = x
    dims = _dims(args.dim)
    symbols = {d for i in metas.values() for d in i.shape if isinstance(d, str)}
    unknown = sorted(set(dims) - symbols)
    if unknown:
        raise Usage(f"--dim names {', '.join(unknown)}, not a symbolic dim of the inputs"
                    f" ({', '.join(sorted(symbols)) or 'they have none'})")
    return {**random_inputs(sess, dims, args.seed, skip=given), **given}


def _same_kind(have, want) -> bool:
    """An --input array of another precision of the same kind (float64 for an f16 input)."""
    import numpy as np
    if want.name == "bfloat16" or have.name == "bfloat16":
        return have.kind in "fV" and want.kind in "fV"
    return bool(np.can_cast(have, want, "same_kind"))


class NoKernelUsage(Usage):
    """onnxruntime lacks a kernel for an op at the graph's dtype: one located line, exit 2."""

    prefix = "dslc run"


def cmd_run(args) -> int:
    if args.repeat < 1:
        raise Usage("--repeat must be >= 1")
    _need("onnxruntime", "onnx")
    from .backends.ort import NoKernel, RunError, session, timed_run
    spec = None
    if args.model_file.endswith(".onnx"):
        if args.dtype:
            raise Usage("--dtype recompiles a spec; an .onnx file keeps the dtypes it was compiled with")
        data = _read_bytes(args.model_file)
    else:
        program = _program(args.model_file)
        if program.errors:
            return 1
        _need("onnx", "onnx")
        spec = _pick(program, args.model)
        spec = spec.with_dtype(args.dtype) if args.dtype else spec
        data = spec.to_onnx(seed=args.seed).SerializeToString()
    try:
        sess = session(data, args.provider, spec)
        feeds = _feeds(sess, args)
        outputs, ms = timed_run(sess, feeds, args.repeat)
    except NoKernel as e:
        raise NoKernelUsage(str(e))
    except RunError as e:
        raise Usage(str(e))
    except Exception as e:      # onnxruntime's own errors: a bad file, a wrong input shape
        if type(e).__module__.startswith("onnxruntime"):
            raise Usage("onnxruntime: " + " ".join(str(e).split())[:400])
        raise
    for name, x in feeds.items():
        print(f"input  {name}: {x.dtype}{list(x.shape)}")
    for meta, y in zip(sess.get_outputs(), outputs):
        print(f"output {meta.name}: {y.dtype}{list(y.shape)}")
    print(f"latency: {ms:.3f} ms (median of {args.repeat}, {args.provider})")
    return 0


DTYPE_CHOICES = ("f16", "bf16", "f64")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dslc", description="Compile neural-network specs (.dl).")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check shapes and count parameters")
    c.add_argument("spec")
    c.add_argument("--json", action="store_true", help="print the JSON document")
    c.set_defaults(fn=cmd_check)
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
    s.set_defaults(fn=cmd_summary)
    k = sub.add_parser("compile", help="emit an ONNX graph or a torch module")
    k.add_argument("spec")
    k.add_argument("--target", choices=("onnx", "torch"), required=True)
    k.add_argument("-o", "--output")
    k.add_argument("--model")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="compile an f32 spec in this precision (precise ops stay f32)")
    k.set_defaults(fn=cmd_compile)
    r = sub.add_parser("run", help="run a spec or an .onnx file once on onnxruntime")
    r.add_argument("model_file", metavar="SPEC|MODEL.onnx")
    r.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
    r.add_argument("--model")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--dim", action="append", metavar="NAME=SIZE", help="size of a symbolic dim")
    r.add_argument("--input", action="append", metavar="NAME=FILE.npy", help="an input's values")
    r.add_argument("--repeat", type=int, default=10)
    r.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="run an f32 spec in this precision (a spec, not an .onnx file)")
    r.set_defaults(fn=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except Usage as e:
        print(f"{e.prefix}: {e}", file=sys.stderr)
        return 2
    except SpecError as e:     # a backend that cannot express a node (E401)
        for d in e.diagnostics:
            print(render(d, e.sources), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:    # `dslc check --json spec.dl | head`: the reader left early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
