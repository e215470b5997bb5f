"""dslc compile: a spec to an ONNX graph or a pickled torch module, written atomically."""
from __future__ import annotations

import sys
from pathlib import Path

from ..diagnostics import render, use_color
from .arrays import read_weights, renames_need_weights
from .common import (DTYPE_CHOICES, Usage, atomic_write, load, max_memory_arg, need, pick,
                     reason, reporting, seed_arg, weights_args)

# the copies of the weights a torch build holds beside the draw (passes.memory.check_memory);
# an ONNX build streams them to the file, one tensor at a time
_COPIES = {"torch": 1, "torch-state": 1}


def _weights(model, args):
    """The weights to build with: --weights FILE, else drawn from --seed once their size is
    checked against --max-memory (passes.memory: TooLarge before any allocation)."""
    from ..checks.memory import check_memory, check_onnx_size
    from ..passes.weights import Drawn, init_weights
    m = model.with_dtype(args.dtype) if args.dtype else model
    if args.target == "onnx":
        check_onnx_size(m)
    if args.weights:
        return read_weights(args)
    if args.target == "onnx":      # each drawn as the graph takes it and written at once
        check_memory(m, args.max_memory, streamed=True, what=" as ONNX")
        return reporting(Drawn(m, args.seed))
    check_memory(m, args.max_memory, copies=_COPIES[args.target], what=" as a torch module")
    return init_weights(m, args.seed, args.max_memory)


def _external(model, args) -> bool:
    """Whether the ONNX graph keeps its parameters in an external data file: asked for, or
    needed (over the 2 GiB one protobuf holds)."""
    if args.external_data:
        return True
    from ..checks.memory import ONNX_LIMIT, weight_tensors
    from ..tools.summary import weight_bytes
    m = model.with_dtype(args.dtype) if args.dtype else model
    return bool(weight_tensors(m)) and sum(weight_bytes(m).values()) > ONNX_LIMIT


def _compile_external(model, args, out: Path):
    """OUT and OUT.data beside it: each parameter drawn (or read from --weights) and written
    to the data file as the graph is built, so the peak holds one tensor, not the model. The
    data file is renamed into place first, then the graph that refers to it."""
    from ..checks.memory import check_memory
    from ..passes.weights import Drawn
    data = out.with_name(out.name + ".data")
    m = model.with_dtype(args.dtype) if args.dtype else model
    if args.weights:
        weights = read_weights(args)
    else:
        check_memory(m, args.max_memory, streamed=True, what=" as ONNX with external data")
        weights = reporting(Drawn(m, args.seed))
    holder = {}

    def write_data(tmp):
        with open(tmp, "wb") as f:
            holder["proto"] = model.to_onnx(weights=weights, seed=args.seed, dtype=args.dtype,
                                            guards=args.guards, max_memory=args.max_memory,
                                            external=(f, data.name), fuse=args.fuse)
    atomic_write(data, write_data)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(holder["proto"].SerializeToString()))
    return holder["proto"]


def run(args) -> int:
    from ..checks.memory import TooLarge
    from ..passes.weights import WeightsError
    program = load(args.spec)
    if program.errors:
        return 1
    model = pick(program, args.model)
    for flag in ("guards", "fuse"):
        if getattr(args, flag) and args.target != "onnx":
            raise Usage(f"--{flag} shapes an ONNX graph: it needs --target onnx")
    if args.no_weights and (args.target != "onnx" or args.weights or args.external_data):
        raise Usage("--no-weights writes an ONNX graph whose parameters are inputs: it needs "
                    "--target onnx, and neither --weights nor --external-data")
    renames_need_weights(args)
    if args.weights and args.target == "torch-src":
        raise Usage("--weights needs a target that holds weights (onnx, torch, torch-state); "
                    "torch-src is code only")
    from ..elab.kv_cache import CacheRefused, with_kv_cache
    try:
        if args.target == "genai":
            return _genai(model, args)
        return _compile(with_kv_cache(model) if args.kv_cache else model, program, args)
    except CacheRefused as e:
        for d in e.diagnostics:
            print(render(d, program.sources, use_color(sys.stderr)), file=sys.stderr)
        return 1
    except (TooLarge, WeightsError) as e:
        print(f"dslc compile: {e}", file=sys.stderr)
        return 1


def _genai(model, args) -> int:
    """--target genai: the folder onnxruntime-genai runs (tools/genai.py)."""
    from ..tools.genai import write_genai
    if not args.output:
        raise Usage("--target genai writes a folder: give it with -o DIR")
    for flag in ("kv_cache", "fuse", "guards", "no_weights", "external_data", "dtype"):
        if getattr(args, flag):
            raise Usage(f"--{flag.replace('_', '-')} does not apply to --target genai (its graph "
                        "has the cache already, in f32, with its weights beside it when large)")
    need("onnx", "onnx")
    if args.tokenizer:
        from ..tools.genai import read_tokenizer
        try:
            read_tokenizer(args.tokenizer)      # before the graph is built: its problem first
        except (OSError, ValueError) as e:
            raise Usage(str(e)) from None
    renames_need_weights(args)
    weights = read_weights(args) if args.weights else None
    try:
        config = write_genai(model, Path(args.output), weights=weights, seed=args.seed,
                             tokenizer=args.tokenizer, context_length=args.context_length,
                             bos=args.bos, eos=args.eos, pad=args.pad)
    except (OSError, ValueError) as e:     # OSError: the folder cannot be made or written
        raise Usage(str(e) if isinstance(e, ValueError) else f"cannot write '{args.output}': "
                    f"{reason(e)}") from None
    dec = config["model"]["decoder"]
    print(f"wrote {args.output}/ ({model.name}, {model.params:,} parameters, genai: "
          f"{dec['num_hidden_layers']} cached layers, context {config['model']['context_length']})")
    return 0


def _compile(model, program, args) -> int:
    from ..checks.memory import check_representable
    suffix = {"onnx": ".onnx", "torch-src": ".py"}.get(args.target, ".pt")
    stem = Path(args.spec).stem + (f".{model.name}" if len(program.models) > 1 else "")
    out = Path(args.output) if args.output else Path(stem + suffix)
    proto = None
    check_representable(model, f" as {args.target}")
    if args.no_weights:
        need("onnx", "onnx")
        proto = model.to_onnx(dtype=args.dtype, guards=args.guards, weightless=True,
                              fuse=args.fuse)
        atomic_write(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    elif args.target == "onnx" and _external(model, args):
        need("onnx", "onnx")
        proto = _compile_external(model, args, out)
    elif args.target == "onnx":         # written as it is built: each weight as it is drawn
        need("onnx", "onnx")
        weights, holder = _weights(model, args), {}

        def write(tmp):
            with open(tmp, "wb") as f:
                holder["proto"] = model.to_onnx(weights=weights, dtype=args.dtype,
                                                guards=args.guards, fuse=args.fuse, stream=f)
        atomic_write(out, write)
        proto = holder["proto"]
    elif args.target == "torch-state":     # loadable with weights_only=True (torch_state.py)
        need("torch", "torch")
        from ..api import save_torch
        module = model.to_torch(weights=_weights(model, args), dtype=args.dtype)
        atomic_write(out, lambda tmp: save_torch(model, module, tmp, dtype=args.dtype))
    elif args.target == "torch-src":       # a Python module importing torch only
        need("torch", "torch")
        text = model.to_torch_src(dtype=args.dtype)
        atomic_write(out, lambda tmp: Path(tmp).write_text(text))
    else:
        torch = need("torch", "torch")
        module = model.to_torch(weights=_weights(model, args), dtype=args.dtype)
        atomic_write(out, lambda tmp: torch.save(module, tmp))
    print(f"wrote {out} ({model.name}, {model.params:,} parameters"
          + (" as graph inputs" if args.no_weights else "") + f", {args.target}"
          + (f", {args.dtype}" if args.dtype else "") + _fused(proto) + ")")
    return 0


def _fused(proto) -> str:
    """`, fused: attention 12 of 12` for a --fuse graph (its metadata), else nothing."""
    props = {p.key: p.value for p in proto.metadata_props} if proto is not None else {}
    return f", fused: {props['dslc.fused'] or 'nothing to fuse'}" if "dslc.fused" in props else ""


def register(sub) -> None:
    k = sub.add_parser("compile", help="emit an ONNX graph or a torch module")
    k.add_argument("spec")
    k.add_argument("--target", choices=("onnx", "torch", "torch-state", "torch-src", "genai"),
                   required=True,
                   help="torch: a pickled module (loading runs code); torch-state: the spec and "
                        "the state_dict, for dslc.load_torch (torch.load weights_only=True); "
                        "torch-src: Python source of the module (imports torch only); genai: a "
                        "folder onnxruntime-genai runs (the --kv-cache graph, genai_config.json)")
    k.add_argument("-o", "--output")
    k.add_argument("--model")
    k.add_argument("--seed", type=seed_arg, default=0)
    k.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="compile an f32 spec in this precision (precise ops stay f32)")
    k.add_argument("--max-memory", type=max_memory_arg, metavar="SIZE",
                   help="refuse a model whose weights need more memory than this to build "
                        "(512M, 64G, 1.5T; default: the memory available)")
    weights_args(k, "build with these weights (.npz by dotted name, a torch state_dict .pt, "
                    ".safetensors, a sharded checkpoint's index .json or a folder holding "
                    "one), checked against the spec: every name and shape")
    k.add_argument("--external-data", action="store_true",
                   help="--target onnx: write the parameters to OUT.data beside the graph as "
                        "they are drawn (one tensor in memory at a time); automatic over 2 GiB")
    k.add_argument("--no-weights", action="store_true",
                   help="--target onnx: no weight values; every parameter and buffer is a graph "
                        "input of its dtype and shape, named as in the state_dict (any size, "
                        "written at once: for planning, or weights fed at run time)")
    k.add_argument("--fuse", action="store_true",
                   help="--target onnx: onnxruntime's fused operators where an op has one "
                        "(self-attention as com.microsoft.Attention); the graph then runs on "
                        "onnxruntime only")
    k.add_argument("--kv-cache", action="store_true",
                   help="the model that generates with a cache: each causal self-attention takes "
                        "past_key_values.I.key/.value [N, kv_heads, P, head size] (P >= 0) and "
                        "returns present.I.key/.value with the new tokens' appended")
    k.add_argument("--tokenizer", metavar="tokenizer.json",
                   help="--target genai: copy this tokenizers file (and tokenizer_config.json "
                        "beside it) into the folder")
    k.add_argument("--context-length", type=int,
                   help="--target genai: the longest sequence genai generates (default 2048, or "
                        "the rows of the model's position table if fewer)")
    for tok in ("bos", "eos", "pad"):
        k.add_argument(f"--{tok}", type=int, default=0 if tok != "pad" else None, metavar="ID",
                       help=f"--target genai: the {tok} token id" + (" (default: --eos)" if tok == "pad"
                                                                     else " (default 0)"))
    k.add_argument("--guards", action="store_true",
                   help="--target onnx: the graph checks its inputs' symbols and the spec's "
                        "`where` constraints (a failing input stops the run, naming the check)")
    k.set_defaults(fn=run)
