"""Load a spec, print its per-layer summary, and list where the parameters are.

Runs without torch or onnx: checking shapes and counting parameters is the core's job.
"""
import sys
from pathlib import Path

import dslc
from dslc.tools.summary import table

ROOT = Path(__file__).resolve().parent.parent


def main(path: str) -> None:
    program = dslc.load(path)
    for model in program.models.values():
        print(table(model))
        print()
        heaviest = sorted(model.param_shapes().items(), key=lambda kv: -_numel(kv[1]))[:3]
        for name, shape in heaviest:
            print(f"  {name:24s} {str(list(shape)):18s} {_numel(shape):>12,}")
        print()


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "specs" / "seeds" / "lenet.dl"))
