"""dslc run: a spec or an .onnx file once on onnxruntime, with random or given inputs."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import (DTYPE_CHOICES, Usage, atomic_write, load, max_memory_arg, need,
                     parse_dims, pick, read_bytes, seed_arg, weights_args)
from .arrays import read_array, read_weights, renames_need_weights


def _given(sess, args) -> dict:
    """The --input arrays, by input name: NAME=FILE form and known names checked, an array of
    another precision of the input's kind cast to it (the rest is checked by dslc.checks.guards)."""
    import numpy as np
    from ..backends.onnx.ort import NUMPY_DTYPES
    metas = {i.name: i for i in sess.get_inputs()}
    given = {}
    for item in args.input or ():
        name, _, file = item.partition("=")
        if not file:
            raise Usage(f"--input wants NAME=FILE.npy, got '{item}'")
        if name not in metas:
            raise Usage(f"--input names an unknown input `{name}` (inputs: {', '.join(metas)})")
        if name in given:
            raise Usage(f"--input gives `{name}` twice")
        x = read_array(file)
        want = NUMPY_DTYPES.get(metas[name].type)
        if want is not None and x.dtype != want:
            x = _cast(name, x, np.dtype(want))
        given[name] = x
    return given


def _cast(name: str, x, want):
    """`x` in the input's dtype `want` when only its precision differs (np.save of Python
    floats gives float64 for an f32 input) and its values fit; InputUsage naming the cast to
    write when the kind differs (int for float, bool for int) or an integer does not fit."""
    import numpy as np
    from ..backends.onnx.ort import ir_dtype
    if not _same_kind(x.dtype, want):
        raise InputUsage(f"input `{name}` is {ir_dtype(x.dtype)}, declared {ir_dtype(want)}: dslc "
                         f"casts within a kind only; save the array cast (`x.astype(np.{want.name})`)")
    if want.kind in "iu" and x.size:
        info = np.iinfo(want)
        if x.min() < info.min or x.max() > info.max:
            raise InputUsage(f"input `{name}` holds {x.min()}..{x.max()}, outside {want.name}'s "
                             f"{info.min}..{info.max}")
    return x.astype(want)


def _dims(sess, args, spec) -> dict[str, int]:
    """The --dim values, each naming a symbolic dim of the inputs."""
    dims = parse_dims(args.dim)
    if spec is not None:
        symbols = set(spec.symbols())
    else:
        symbols = {d for i in sess.get_inputs() for d in i.shape if isinstance(d, str)}
    unknown = sorted(set(dims) - symbols)
    if unknown:
        raise Usage(f"--dim names {', '.join(unknown)}, not a symbolic dim of the inputs"
                    f" ({', '.join(sorted(symbols)) or 'they have none'})")
    return dims


def _feeds(sess, args, spec=None):
    """Every input's array: the --input ones, checked with the --dim values by dslc.checks.guards'
    rule (ranks, dtypes, fixed sizes, one value per symbol, the spec's `where` constraints),
    then random arrays for the others, their symbols read from the given ones (a batch nobody
    gives: its smallest allowed value). InputError lists what does not fit."""
    from ..backends.onnx.ort import input_feeds
    given = _given(sess, args)
    dims = _dims(sess, args, spec)
    return input_feeds(sess, given, dims, args.seed, spec, given_by="--dim")


def _same_kind(have, want) -> bool:
    """An --input array of another precision of the same kind (float64 for an f16 input,
    int32 for int64; not int for float, bool for int, signed for unsigned)."""
    if want.name == "bfloat16" or have.name == "bfloat16":
        return have.kind in "fV" and want.kind in "fV"
    return have.kind == want.kind


class NoKernelUsage(Usage):
    """onnxruntime lacks a kernel for an op at the graph's dtype: one located line, exit 2."""

    prefix = "dslc run"


class InputUsage(Usage):
    """Inputs (--input, --dim) that do not fit the model: one line, exit 2."""

    prefix = "dslc run"


def _input_line(e) -> str:
    """One line for a guards.InputError: each problem, `;`-separated (a dim still to give is
    asked for as it is)."""
    if len(e.problems) == 1 and e.problems[0].startswith("give "):
        return e.problems[0]
    return f"the inputs do not fit model {e.model}: " + "; ".join(e.problems)


def _guard_line(text: str, feeds: dict) -> str | None:
    """One line for an ONNX guard (`dslc compile --guards`) that stopped the run, or None."""
    from ..backends.onnx.guards import guard_message
    condition = guard_message(text)
    if condition is None:
        return None
    import re
    found = []
    for name, axis in dict.fromkeys(re.findall(r"input (\S+) axis (\d+)", condition)):
        shape = getattr(feeds.get(name), "shape", ())
        if int(axis) < len(shape):
            found.append(f"input {name} axis {axis} is {shape[int(axis)]}")
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items())
    return (f"the model's input guard failed: {condition}; found "
            + (", ".join(found) + " " if found else "") + f"(the inputs: {shapes})")


def _has_external_data(data: bytes) -> bool:
    import onnx
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception:      # not a model: onnxruntime says so, in run()
        return False
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


def build(spec, args) -> bytes:
    """The spec's ONNX graph, serialized: the weights' size checked first against the memory
    (--max-memory) and against what one ONNX file holds, then drawn (TooLarge before any
    allocation); --guards: the graph checks its inputs."""
    from ..checks.memory import check_memory, check_onnx_size
    from ..passes.weights import Drawn
    check_onnx_size(spec)
    if args.weights:                     # trained weights, checked against the spec by name
        weights = read_weights(args)
    else:
        check_memory(spec, args.max_memory, copies=2, what=" as ONNX")
        weights = Drawn(spec, args.seed)      # each drawn as the graph takes it
    return spec.to_onnx(weights=weights, guards=args.guards, fuse=args.fuse).SerializeToString()


MAX_REPEAT = 10_000         # timed runs: a latency's median needs far fewer


def run(args) -> int:
    if not 1 <= args.repeat <= MAX_REPEAT:
        raise Usage(f"--repeat must be from 1 to {MAX_REPEAT:,}, got {args.repeat}")
    if args.save and not args.save.endswith(".npz"):
        raise Usage(f"--save writes an .npz file (np.savez), got '{args.save}'")
    need("onnxruntime", "onnx")
    from ..backends.onnx.ort import NoKernel, RunError, session, timed_run
    from ..checks.guards import InputError
    from ..checks.memory import TooLarge
    from ..passes.weights import WeightsError
    spec = None
    renames_need_weights(args)
    if args.weights and args.model_file.endswith(".onnx"):
        raise Usage("--weights builds a spec's graph; an .onnx file holds its own weights")
    if args.model_file.endswith(".onnx"):
        if args.dtype:
            raise Usage("--dtype recompiles a spec; an .onnx file keeps the dtypes it was compiled with")
        if args.guards or args.fuse:
            flag = "--guards" if args.guards else "--fuse"
            raise Usage(f"{flag} compiles a spec; an .onnx file keeps the form it was "
                        f"compiled with (dslc compile {flag})")
        data = read_bytes(args.model_file)
        if _has_external_data(data):      # onnxruntime finds OUT.data beside the file's path
            data = args.model_file
    else:
        program = load(args.model_file)
        if program.errors:
            return 1
        need("onnx", "onnx")
        spec = pick(program, args.model)
        spec = spec.with_dtype(args.dtype) if args.dtype else spec
        try:
            data = build(spec, args)
        except (TooLarge, WeightsError) as e:
            print(f"dslc run: {e}", file=sys.stderr)
            return 1
    feeds = {}
    try:
        sess = session(data, args.provider, spec)
        feeds = _feeds(sess, args, spec)
        outputs, ms = timed_run(sess, feeds, args.repeat)
    except NoKernel as e:
        raise NoKernelUsage(str(e))
    except RunError as e:
        raise Usage(str(e))
    except InputError as e:
        raise InputUsage(_input_line(e))
    except Exception as e:      # onnxruntime's own errors: a bad file, a wrong input shape
        if type(e).__module__.startswith("onnxruntime"):
            line = _guard_line(str(e), feeds)
            if line is not None:
                raise InputUsage(line)
            raise Usage("onnxruntime: " + " ".join(str(e).split())[:400])
        raise
    named = {meta.name: y for meta, y in zip(sess.get_outputs(), outputs)}
    for name, x in feeds.items():
        print(f"input  {name}: {x.dtype}{list(x.shape)}")
    for name, y in named.items():
        print(f"output {name}: {y.dtype}{list(y.shape)}")
        if args.print:
            import numpy as np
            with np.printoptions(threshold=args.print_limit, edgeitems=3, precision=6):
                print("  " + np.array2string(np.asarray(y), prefix="  "))
    print(f"latency: {ms:.3f} ms (median of {args.repeat}, {args.provider})")
    if args.save:
        _save(Path(args.save), named, feeds)
    return 0


def _save(path: Path, outputs: dict, feeds: dict) -> None:
    """--save out.npz: the outputs by name, and the inputs as `input.NAME` (random ones can
    then be given back with --input)."""
    import numpy as np
    arrays = {**outputs, **{f"input.{k}": v for k, v in feeds.items()}}

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    atomic_write(path, write)
    print(f"saved {', '.join(outputs)} (and the inputs) to {path}")


def register(sub) -> None:
    r = sub.add_parser("run", help="run a spec or an .onnx file once on onnxruntime")
    r.add_argument("model_file", metavar="SPEC|MODEL.onnx")
    r.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
    r.add_argument("--model")
    r.add_argument("--seed", type=seed_arg, default=0)
    r.add_argument("--dim", action="append", metavar="NAME=SIZE", help="size of a symbolic dim")
    r.add_argument("--input", action="append", metavar="NAME=FILE.npy",
                   help="an input's values (its batch and other symbols are read from it)")
    r.add_argument("--repeat", type=int, default=10)
    r.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="run an f32 spec in this precision (a spec, not an .onnx file)")
    r.add_argument("--max-memory", type=max_memory_arg, metavar="SIZE",
                   help="refuse a spec whose weights need more memory than this to build "
                        "(512M, 64G; default: the memory available)")
    r.add_argument("--guards", action="store_true",
                   help="compile the spec with its input checks in the graph (as compile --guards)")
    r.add_argument("--fuse", action="store_true",
                   help="compile the spec with onnxruntime's fused operators (as compile --fuse)")
    weights_args(r, "run a spec with these weights (as compile's)")
    r.add_argument("--print", action="store_true", help="print the outputs' values")
    r.add_argument("--print-limit", type=int, default=100, metavar="K",
                   help="with --print: summarise arrays of more than K elements (default 100)")
    r.add_argument("--save", metavar="OUT.npz", help="save the outputs (and the inputs) as .npz")
    r.set_defaults(fn=run)
