"""Spec fuzzing: token mutations of every spec in specs/ through `dslc.check_text`, each case in a
worker process under a wall-clock limit, reporting crash signatures with minimised reproducers.

Run: python benchmarks/fuzz.py [--cases N] [--seed S] [--jobs J] [--limit SEC] [--slow SEC]
                               [--grammar FRACTION] [--strategy mutate|derive|splice|semantic|numeric|all]

The default strategy, `mutate`, is described below; `derive`, `splice`, `semantic` and `numeric`
(benchmarks/strategies.py: grammar derivations, splices of two specs, replacements that keep a
spec parsing, numbers at the edges) look where it does not. `--strategy all` runs --cases cases
of each in turn and prints a table per strategy: crashes, hangs, cases over --slow, the slowest.

A fraction of the cases (--grammar, 0.3 by default) are generated instead (specgen.py: well-
formed specs calling every registered op with arguments of its fields' types).

A case is one spec with 1-3 token mutations: a token deleted, duplicated or swapped with its
neighbour; a number made 0, -1, huge (2**62, 10**30, 1e999, nan) or a long run of nines; an
identifier replaced by another identifier of the same spec. Half the cases make only the last
two kinds (numbers and names), so that they mostly parse and reach the checker's later phases. A case fails when check_text raises
(a crash: its signature is the exception type and the innermost dslc frame), runs past --limit
(a hang: the worker is killed and replaced) or past --slow (slow). Each failing signature is
shrunk to a small reproducer (tokens deleted while the signature stays) and printed; exit 1 when
any case failed. tests/test_fuzz.py runs a few hundred cases of the same mutations in CI.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))     # fuzz this tree, whatever dslc is installed
sys.path.insert(0, str(ROOT / "benchmarks"))
import specgen  # noqa: E402
from strategies import STRATEGIES  # noqa: E402
TOKEN = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"|[A-Za-z_][A-Za-z_0-9]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
                   r"|->|\*\*|==|!=|<=|>=|//|.", re.S)
HUGE = ["0", "-1", "4611686018427387904", "1000000000000000000000000000000", "1e999", "nan",
        "99999999999999999999999999999999999999999999999999", "1e-999", "0.0"]


def corpus() -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "specs").rglob("*.dl"))]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def mutate(text: str, rng: random.Random) -> str:
    toks = tokens(text)
    solid = [i for i, t in enumerate(toks) if not t.isspace() and not t.startswith("#")]
    names = sorted({t for t in toks if t[:1].isalpha() or t[:1] == "_"})
    # half the cases change only numbers and names, so that most of them still parse and
    # reach the elaborator and the passes (a deleted or swapped token is mostly an E101)
    values = rng.random() < 0.5
    if values:
        solid = [i for i in solid if toks[i][:1].isalnum() or toks[i][:1] == "_"]
    for _ in range(rng.randint(1, 3)):
        if not solid:
            break
        i = rng.choice(solid)
        kind = rng.random() * (0.4 if values else 1.0)
        if toks[i][:1].isdigit() and kind < 0.6:
            toks[i] = rng.choice(HUGE)
        elif (toks[i][:1].isalpha() or toks[i][:1] == "_") and kind < 0.4 and names:
            toks[i] = rng.choice(names)
        elif kind < 0.6:
            toks[i] = ""
        elif kind < 0.8:
            toks[i] = toks[i] + " " + toks[i]
        else:
            j = solid[min(solid.index(i) + 1, len(solid) - 1)]
            toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def run_case(text: str) -> tuple[str | None, float]:
    """(signature or None, seconds) of check_text on one text, in this process."""
    import dslc
    t0 = time.perf_counter()
    try:
        dslc.check_text(text, "fuzz.dl")
    except BaseException as e:       # noqa: BLE001 - a crash is what we are looking for
        frames = [f for f in traceback.extract_tb(e.__traceback__) if "/dslc/" in f.filename]
        where = (f"{Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].name}"
                 if frames else "outside dslc")
        return f"{type(e).__name__} in {where}", time.perf_counter() - t0
    return None, time.perf_counter() - t0


def _worker(conn) -> None:
    import dslc  # noqa: F401 - import once, before the first case's clock starts
    conn.send("ready")
    while True:
        text = conn.recv()
        conn.send(run_case(text))


class Worker:
    """A child process that runs cases; killed and replaced when a case runs past the limit."""

    def __init__(self):
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        self.conn.recv()

    def run(self, text: str, limit: float) -> tuple[str | None, float]:
        self.conn.send(text)
        t0 = time.perf_counter()
        if self.conn.poll(limit):
            return self.conn.recv()
        self.proc.kill()
        self.proc.join()
        self.__init__()
        return "hang", time.perf_counter() - t0


@dataclass
class Finding:
    signature: str
    source: str
    text: str
    seconds: float
    count: int = 1


def shrink(worker: Worker, text: str, signature: str, limit: float, budget: float = 30.0) -> str:
    """Delete runs of tokens while the signature stays (a greedy ddmin), `budget` seconds at most."""
    toks = [t for t in tokens(text) if not t.startswith("#")]
    toks = [" " if t.isspace() and "\n" not in t else ("\n" if t.isspace() else t) for t in toks]
    chunk = max(1, len(toks) // 2)
    end = time.perf_counter() + budget
    while chunk >= 1 and time.perf_counter() < end:
        i, changed = 0, False
        while i < len(toks) and time.perf_counter() < end:
            candidate = toks[:i] + [t for t in toks[i:i + chunk] if t.isspace()] + toks[i + chunk:]
            sig, _ = worker.run("".join(candidate), limit)
            if sig == signature:
                toks, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return "".join(toks)


def _case(strategy: str, rng: random.Random, specs, grammar: float) -> tuple[str, str]:
    """(where the case comes from, its text) by one strategy."""
    if strategy in STRATEGIES:
        return f"{strategy} (benchmarks/strategies.py)", STRATEGIES[strategy](rng, specs)
    if rng.random() < grammar:
        return "generated (benchmarks/specgen.py)", specgen.generate(rng)
    source, text = rng.choice(specs)
    return source, mutate(text, rng)


def _shard(args, strategy: str, index: int, queue) -> None:
    rng = random.Random(args.seed * 1000 + index)
    specs = corpus()
    worker = Worker()
    found: dict[str, Finding] = {}
    slowest = 0.0
    for _ in range(index, args.cases, args.jobs):
        source, case = _case(strategy, rng, specs, args.grammar)
        sig, seconds = worker.run(case, args.limit)
        slowest = max(slowest, seconds)
        if sig is None and seconds > args.slow:
            sig = f"slow (over {args.slow:g} s)"
        if sig is None:
            continue
        if sig in found:
            found[sig].count += 1
        else:
            found[sig] = Finding(sig, source, case, seconds)
    for f in found.values():
        if not f.signature.startswith("slow"):
            f.text = shrink(worker, f.text, f.signature, args.limit)
    queue.put((list(found.values()), slowest))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=30_000, help="cases per strategy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strategy", choices=("mutate", *STRATEGIES, "all"), default="mutate",
                    help="mutate: token mutations and specgen's specs (--grammar); the others: "
                         "benchmarks/strategies.py; all: each in turn, with a table")
    ap.add_argument("--grammar", type=float, default=0.3,
                    help="the fraction of cases generated from the op registry (specgen.py)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=float, default=6.0, help="seconds before a case is a hang")
    ap.add_argument("--slow", type=float, default=2.0, help="seconds before a case is slow")
    args = ap.parse_args(argv)
    names = ["mutate", *STRATEGIES] if args.strategy == "all" else [args.strategy]
    rows, merged = [], {}
    for name in names:
        t0 = time.perf_counter()
        found, slowest = _run(args, name)
        rows.append((name, found, slowest, time.perf_counter() - t0))
        for f in found.values():
            merged[f"{name}: {f.signature}"] = f
    print(f"| strategy | cases | crashes | hangs | over {args.slow:g} s | slowest | time |")
    print("|---|---|---|---|---|---|---|")
    for name, found, slowest, seconds in rows:
        count = lambda test: sum(f.count for f in found.values() if test(f.signature))  # noqa: E731
        print(f"| {name} | {args.cases} | {count(lambda s: s not in ('hang',) and not s.startswith('slow'))} "
              f"| {count(lambda s: s == 'hang')} | {count(lambda s: s.startswith('slow'))} "
              f"| {slowest:.2f} s | {seconds:.0f} s |")
    print(f"(seed {args.seed}, {args.jobs} jobs)")
    for key, f in sorted(merged.items(), key=lambda kv: -kv[1].count):
        print(f"\n## {key}: {f.count} case(s), first from {f.source} ({f.seconds:.2f} s)")
        print("```\n" + f.text.strip() + "\n```")
    return 1 if merged else 0


def _run(args, strategy: str) -> tuple[dict[str, Finding], float]:
    """The findings (by signature) and the slowest case of one strategy, over args.jobs shards."""
    queue = mp.Queue()
    shards = [mp.Process(target=_shard, args=(args, strategy, i, queue)) for i in range(args.jobs)]
    for p in shards:
        p.start()
    merged: dict[str, Finding] = {}
    slowest = 0.0
    for _ in shards:
        findings, slow = queue.get()
        slowest = max(slowest, slow)
        for f in findings:
            if f.signature in merged:
                merged[f.signature].count += f.count
            else:
                merged[f.signature] = f
    for p in shards:
        p.join()
    return merged, slowest


if __name__ == "__main__":
    sys.exit(main())
