"""Time `dslc check` on each spec of seeds/, zoo/, seq/, transformer/ and math/ in a fresh
process (what an editor's on-save hook pays). Prints a Markdown table for the README.

--growth: the check's growth with depth instead, in this process (start-up excluded):
`x -> dense(8) -> relu -> ...` chains of 1,250 to 10,000 layers (dslc.limits.MAX_LAYERS), a
two-layer block repeated 625 to 5,000 times (`Unit * K`), a one-layer block repeated 10,000
times, and the most tokens a chain of MAX_LAYERS can have, each checked --runs times (median). The bounds
in dslc/limits.py are chosen from this curve.

Run: python benchmarks/check_speed.py [--runs 5] [--growth]
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


def chain(layers: int) -> str:
    body = " -> ".join(["dense(8)", "relu"] * (layers // 2))
    return f"model Chain {{\n    input x: f32[N, 8]\n    output y = x -> {body}\n}}\n"


def repeated(times: int) -> str:
    return ("block Unit(x: [N, D]) {\n    return x -> dense(D) -> relu\n}\n\n"
            f"model Repeated {{\n    input x: f32[N, 8]\n    output y = x -> Unit * {times}\n}}\n")


def growth(runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    import dslc
    from dslc.limits import MAX_LAYERS
    print("| spec | layers | `check_text`, median (in process) | per 1,000 layers |")
    print("| --- | --- | --- | --- |")
    cases = [("chain", n, chain(n)) for n in (1250, 2500, 5000, 10000)]
    cases += [("block * K", 2 * k, repeated(k)) for k in (625, 1250, 2500, 5000)]
    cases.append(("one-layer block * 10,000", 10_000, repeated(10_000).replace(" -> relu\n", "\n")))
    dense = chain(2).replace("dense(8) -> relu", " -> ".join(["dense(8)"] * MAX_LAYERS))
    cases.append((f"dense(8) chain, {5 * MAX_LAYERS:,} tokens", MAX_LAYERS, dense))
    for what, layers, text in cases:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            program = dslc.check_text(text)
            times.append(time.perf_counter() - t)
            assert not program.errors and len(program.model().nodes) == layers
        med = statistics.median(times)
        print(f"| {what} | {layers:,} | {med:.2f} s | {1e6 * med / layers:.0f} ms |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--growth", action="store_true", help="the check's growth with depth")
    args = ap.parse_args()
    if args.growth:
        return growth(args.runs)
    specs = [p for group in ("seeds", "zoo", "seq", "transformer", "math")
             for p in sorted((ROOT / "specs" / group).glob("*.dl"))]
    print("| spec | `dslc check`, median wall time (fresh process) |")
    print("| --- | --- |")
    for spec in specs:
        print(f"| {spec.relative_to(ROOT)} | {time_check(spec, args.runs) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
