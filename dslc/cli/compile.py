"""dslc compile: a spec to an ONNX graph or a pickled torch module, written atomically."""
from __future__ import annotations

from pathlib import Path

from .common import DTYPE_CHOICES, atomic_write, load, need, pick


def run(args) -> int:
    program = load(args.spec)
    if program.errors:
        return 1
    model = pick(program, args.model)
    suffix = ".onnx" if args.target == "onnx" else ".pt"
    stem = Path(args.spec).stem + (f".{model.name}" if len(program.models) > 1 else "")
    out = Path(args.output) if args.output else Path(stem + suffix)
    if args.target == "onnx":
        need("onnx", "onnx")
        proto = model.to_onnx(seed=args.seed, dtype=args.dtype)
        atomic_write(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    else:
        torch = need("torch", "torch")
        module = model.to_torch(seed=args.seed, dtype=args.dtype)
        atomic_write(out, lambda tmp: torch.save(module, tmp))
    print(f"wrote {out} ({model.name}, {model.params:,} parameters, {args.target}"
          + (f", {args.dtype}" if args.dtype else "") + ")")
    return 0


def register(sub) -> None:
    k = sub.add_parser("compile", help="emit an ONNX graph or a torch module")
    k.add_argument("spec")
    k.add_argument("--target", choices=("onnx", "torch"), required=True)
    k.add_argument("-o", "--output")
    k.add_argument("--model")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--dtype", choices=DTYPE_CHOICES,
                   help="compile an f32 spec in this precision (precise ops stay f32)")
    k.set_defaults(fn=run)
