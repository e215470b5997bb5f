"""dslc import: an ONNX graph to a readable .dl spec, with its weights beside it as
`<spec stem>.weights.npz` keyed by dslc's parameter names (`Model.to_onnx(weights=...)` of
the spec reproduces the graph's numbers). Exit 2 with one line for what cannot be imported."""
from __future__ import annotations

from pathlib import Path

from .common import Usage, atomic_write, need, read_bytes


def run(args) -> int:
    need("onnx", "onnx")
    import numpy as np

    from ..onnx_import import ImportFailure, import_onnx, load_onnx
    from ..onnx_import.validate import validate
    data = read_bytes(args.model)
    out = Path(args.output) if args.output else Path(Path(args.model).stem + ".dl")
    try:
        proto = load_onnx(data, args.model)
        validate(proto, Path(args.model).parent)
        imported = import_onnx(proto, Path(args.model).name, args.allow_nonfinite)
    except ImportFailure as e:
        raise Usage(str(e))
    weights = out.with_name(out.name[: -len(out.suffix)] + ".weights.npz" if out.suffix else
                            out.name + ".weights.npz")
    atomic_write(out, lambda tmp: Path(tmp).write_text(imported.text, encoding="utf-8"))

    def save(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **imported.weights)
    atomic_write(weights, save)
    m = imported.model
    print(f"wrote {out} ({m.name}, {m.params:,} parameters) and {weights}")
    return 0


def register(sub) -> None:
    k = sub.add_parser("import", help="write a .dl spec (and its weights) from an ONNX graph")
    k.add_argument("model", help="an .onnx file")
    k.add_argument("-o", "--output", help="the spec to write (default: <model stem>.dl)")
    k.add_argument("--allow-nonfinite", action="store_true",
                   help="import weights holding NaN or inf (refused by default)")
    k.set_defaults(fn=run)
