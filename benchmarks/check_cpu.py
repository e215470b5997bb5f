"""The CPU time (user + system) of `dslc check SPEC` in a fresh process, this tree against
another checkout of dslc, interleaved run by run: how a change moved the check's cost. CPU time,
not wall time, so that a busy machine (other engineers, a test run) skews the two sides alike.

Run: python benchmarks/check_cpu.py --base ../dslc-before [--runs 5] [SPEC ...]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["specs/seeds/mlp.dl", "specs/seeds/lenet.dl", "specs/zoo/resnet.dl",
         "specs/zoo/mobilenet_v2.dl", "specs/zoo/unet.dl", "specs/seq/seq2seq.dl",
         "specs/transformer/gpt2.dl", "specs/transformer/bert.dl",
         "specs/transformer/llama7b.dl", "specs/math/isab.dl"]


def cpu_seconds(tree: Path, spec: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([sys.executable, "-m", "dslc", "check", spec], cwd=tree,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(tree)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{tree}: dslc check {spec} failed:\n{p.stderr.decode()}")
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the other checkout's root")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("specs", nargs="*", default=SPECS)
    args = ap.parse_args()
    trees = {"base": args.base.resolve(), "this": ROOT}
    times = {t: {s: [] for s in args.specs} for t in trees}
    for _ in range(args.runs):
        for spec in args.specs:
            for name, tree in trees.items():
                times[name][spec].append(cpu_seconds(tree, spec))
    med = {t: {s: statistics.median(v) for s, v in d.items()} for t, d in times.items()}
    print("| spec | base | this tree | ratio |\n| --- | --- | --- | --- |")
    for s in args.specs:
        print(f"| {s} | {med['base'][s] * 1000:.0f} ms | {med['this'][s] * 1000:.0f} ms | "
              f"{med['this'][s] / med['base'][s]:.2f} |")
    tb, tt = sum(med["base"].values()), sum(med["this"].values())
    print(f"| total | {tb * 1000:.0f} ms | {tt * 1000:.0f} ms | {tt / tb:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
