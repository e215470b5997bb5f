"""dslc run: a spec or an .onnx file once on onnxruntime, with random or given inputs."""
from __future__ import annotations

from .common import DTYPE_CHOICES, Usage, load, need, parse_dims, pick, read_bytes, reason


def _feeds(sess, args):
    import numpy as np
    from ..backends.ort import NUMPY_DTYPES, random_inputs
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
            raise Usage(f"cannot read '{file}': {reason(e)}")
        except ValueError as e:
            raise Usage(f"cannot read '{file}' as a .npy array: {e}")
        want = NUMPY_DTYPES.get(metas[name].type)
        if want is not None and x.dtype != want and _same_kind(x.dtype, np.dtype(want)):
            x = x.astype(want)          # np.save of Python floats gives float64 for an f32 input
        given[name] = x
    dims = parse_dims(args.dim)
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


def run(args) -> int:
    if args.repeat < 1:
        raise Usage("--repeat must be >= 1")
    need("onnxruntime", "onnx")
    from ..backends.ort import NoKernel, RunError, session, timed_run
    spec = None
    if args.model_file.endswith(".onnx"):
        if args.dtype:
            raise Usage("--dtype recompiles a spec; an .onnx file keeps the dtypes it was compiled with")
        data = read_bytes(args.model_file)
    else:
        program = load(args.model_file)
        if program.errors:
            return 1
        need("onnx", "onnx")
        spec = pick(program, args.model)
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


def register(sub) -> None:
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
    r.set_defaults(fn=run)
