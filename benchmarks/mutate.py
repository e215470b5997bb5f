"""Mutation testing over all of dslc/: apply one one-line mutation at a time to a copy of the
tree, run the tests that cover it, report the mutants no test kills (survivors) and the kill
rate per package.

Run: python benchmarks/mutate.py [--regressions] [--sample N] [--seed S] [--timeout SEC]
                                 [--packages P ...] [--full] [--map FILE]

- `--regressions` runs the list below: the one-line bugs a review once slipped past the whole
  suite (each must be killed now).
- `--sample N` draws N mutants from every applicable rule on every line of dslc/**/*.py
  (comparison flips, True/False, + and -, * and /, //, numbers, dropped keyword arguments),
  reproducibly from --seed, spread evenly over the packages (dslc/ops, dslc/backends,
  dslc/ir, dslc/elab, dslc/tools, dslc/onnx_import, dslc/cli, ...; `--packages` keeps some):
  round-robin over the packages, each one's mutants in a seeded random order.
- `--full` runs the whole suite on each mutant the covering tests leave alive (nightly runs:
  about 8 minutes of wall time each here).
- `--map FILE` (needs `pip install coverage`) chooses the covering tests by measurement: the
  first run with a FILE that does not exist runs the whole suite once under coverage, one
  context per test function, measuring the sampled mutants' modules (about twice the suite's
  time), and keeps which tests execute each of their lines in FILE; then each mutant runs exactly the tests that execute its statement
  (-x: the first failure kills it). A line that runs once per process (at module or class
  level, or in a cached function: coverage gives it to the first test that loads it) or while
  tests are collected also runs the package's tests below when its own leave it alive, as
  without --map; so does a line no test executes in-process (a test may run it in a
  subprocess, `dslc check --watch` for one, which coverage does not follow).
The tree is copied to a temporary folder and tests run there (PYTHONPATH points at the copy),
so the working tree is never modified. Prints the kill rate per package and a Markdown table
of survivors.
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("dslc",)

# The tests run for a mutant: its family's own module first (-x stops at the first failure,
# so a killed mutant costs little), then the cross-cutting oracles.
COMMON = ["tests/test_oracles.py", "tests/test_ops_table.py", "tests/test_arith.py",
          "tests/test_elementwise.py", "tests/test_reduce.py", "tests/test_linalg.py",
          "tests/test_indexing.py", "tests/test_shaping.py", "tests/test_sources.py",
          "tests/test_conv_pool.py", "tests/test_shape_norm.py", "tests/test_transformer.py",
          "tests/test_recurrent.py", "tests/test_scan.py", "tests/test_ties_frozen.py",
          "tests/test_dtypes.py", "tests/test_cli.py", "tests/test_summary.py",
          "tests/test_math_specs.py", "tests/test_gan.py", "tests/test_language.py",
          "tests/test_macs_oracle.py", "tests/test_combinations.py", "tests/test_survivors.py"]
FAMILY_TESTS = {"activation": ["tests/test_oracles.py", "tests/test_ops_table.py"],
                "attention": ["tests/test_oracles.py", "tests/test_transformer.py"],
                "normalization": ["tests/test_oracles.py", "tests/test_shape_norm.py"],
                "recurrent": ["tests/test_recurrent.py", "tests/test_combinations.py"],
                "scan": ["tests/test_scan.py"],
                "convolution": ["tests/test_conv_pool.py", "tests/test_macs_oracle.py"],
                "pooling": ["tests/test_conv_pool.py", "tests/test_combinations.py"],
                "window": ["tests/test_conv_pool.py"], "augment": ["tests/test_gan.py"],
                "sources": ["tests/test_sources.py"],
                "builder": ["tests/test_survivors.py", "tests/test_external.py"]}

# The tests of the packages beyond ops and backends, by package (dslc/<package>/...) and by
# module stem where one module has tests of its own; run before a short common set.
PACKAGE_TESTS = {
    "ir": ["tests/test_dims_property.py", "tests/test_dims.py", "tests/test_constraints.py",
           "tests/test_runtime_sizes.py"],
    "elab": ["tests/test_survivors.py", "tests/test_language.py", "tests/test_invalid_specs.py",
             "tests/test_constraints.py", "tests/test_scan.py"],
    "syntax": ["tests/test_survivors.py", "tests/test_fmt.py", "tests/test_language.py",
               "tests/test_invalid_specs.py", "tests/test_imports.py"],
    "passes": ["tests/test_init.py", "tests/test_seeds.py", "tests/test_ties_frozen.py"],
    "checks": ["tests/test_survivors.py", "tests/test_guards.py", "tests/test_constraints.py",
               "tests/test_budgets.py", "tests/test_limits.py"],
    "tools": ["tests/test_summary_totals.py", "tests/test_summary.py", "tests/test_budgets.py",
              "tests/test_reference.py"],
    "onnx_import": ["tests/test_onnx_import.py", "tests/test_import_forms.py",
                    "tests/test_import_regressions.py", "tests/test_import_corpus.py"],
    "cli": ["tests/test_cli.py", "tests/test_summary.py", "tests/test_files.py",
            "tests/test_hostile.py", "tests/test_guards.py"],
    "top": ["tests/test_survivors.py", "tests/test_api.py", "tests/test_files.py",
            "tests/test_limits.py", "tests/test_hostile.py", "tests/test_invalid_specs.py"],
}
MODULE_TESTS = {"dims": ["tests/test_dims_property.py", "tests/test_dims.py"],
                "diff": ["tests/test_tools_oracle.py", "tests/test_diff.py"],
                "fmt": ["tests/test_tools_oracle.py", "tests/test_fmt.py"],
                "graph": ["tests/test_graph.py"], "summary": ["tests/test_summary_totals.py",
                                                              "tests/test_summary.py"],
                "weights": ["tests/test_init.py"]}
SHORT_COMMON = ["tests/test_survivors.py", "tests/test_language.py", "tests/test_invalid_specs.py",
                "tests/test_cli.py", "tests/test_ops_table.py"]


@dataclass(frozen=True)
class Mutant:
    path: str          # relative to the root
    line: int          # 1-based
    before: str
    after: str
    why: str


# (file, a fragment of the original line, its replacement, the bug it reintroduces)
REGRESSIONS = [
    ("dslc/backends/onnx/activation.py", 'b.scalar(6.0,', 'b.scalar(1e9,', "ONNX relu6 clips at 1e9"),
    ("dslc/backends/onnx/activation.py", 'b.scalar(op.min_val,', 'b.scalar(-1e9,',
     "ONNX hardtanh loses its lower bound"),
    ("dslc/backends/onnx/activation.py", '"GreaterOrEqual"', '"Greater"', "ONNX step uses > instead of >="),
    ("dslc/backends/torch/normalization.py", "nn.Dropout(op.p)", "nn.Dropout(0.0)", "torch dropout ignores p"),
    ("dslc/backends/torch/normalization.py", "op.eps, op.momentum,", "op.eps, 0.1,",
     "batchnorm ignores momentum"),
    ("dslc/backends/torch_src/runtime.py", "q, k = rope(q, k, self.base)", "q, k = q, k",
     "rotary embedding does nothing in torch"),
    ("dslc/backends/torch_src/runtime.py", "k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)",
     "k = k.repeat(1, self.heads // self.kv_heads, 1, 1)", "grouped-query heads tiled, not interleaved"),
    ("dslc/backends/torch_src/runtime.py", "allowed = ~key_padding_mask[:, None, None, :]",
     "allowed = key_padding_mask[:, None, None, :]", "key_padding_mask inverted"),
    ("dslc/ops/attention.py", "return self.scale if self.scale is not None else",
     "return None if self.scale is not None else", "sdpa(scale=) ignored"),
    ("dslc/ops/attention.py", "pe[:, 0::2] = np.sin(pos * div)", "pe[:, 0::2] = np.cos(pos * div)",
     "the sinusoidal table with cos on even features"),
    ("dslc/backends/torch_src/runtime.py", "torch.cat([self.weight.expand(x.shape[0], -1, -1), x], dim=1)",
     "torch.cat([x, self.weight.expand(x.shape[0], -1, -1)], dim=1)", "the class token appended"),
]


def _python_files() -> list[Path]:
    return sorted(p for t in TARGETS for p in (ROOT / t).rglob("*.py"))


_RULES = [
    (re.compile(r"(?<![<>=!])>=(?!=)"), ">", "`>=` -> `>`"),
    (re.compile(r"(?<![<>=!])<=(?!=)"), "<", "`<=` -> `<`"),
    (re.compile(r"(?<![<>=!-])>(?![=>])"), ">=", "`>` -> `>=`"),
    (re.compile(r"(?<![<>=!-])<(?![=<])"), "<=", "`<` -> `<=`"),
    (re.compile(r"=="), "!=", "`==` -> `!=`"),
    (re.compile(r"\bTrue\b"), "False", "True -> False"),
    (re.compile(r"\bFalse\b"), "True", "False -> True"),
    (re.compile(r" \+ "), " - ", "`+` -> `-`"),
    (re.compile(r" - "), " + ", "`-` -> `+`"),
    (re.compile(r" \* "), " / ", "`*` -> `/`"),
    (re.compile(r" // "), " / ", "`//` -> `/`"),
    (re.compile(r"(?<![\w.])1(?![\w.])"), "0", "a 1 made 0"),
    (re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])"), None, "a float doubled"),
    (re.compile(r"(?<![\w.\[])([2-9])(?![\w.\]])"), None, "an integer plus one"),
    (re.compile(r", (?!name=)\w+=[^,()\[\]{}]+(?=[,)])"), "", "a keyword argument dropped"),
]


def _mutations(line: str):
    code = line.split("#", 1)[0]
    if not code.strip() or "__doc__" in code or code.lstrip().startswith((
            "import ", "from ", "def ", "class ", "@", '"', "'", "return f\"", "raise ")):
        return
    for pattern, repl, why in _RULES:
        for m in pattern.finditer(code):
            before = code[:m.start()]
            if (before.count('"') - before.count('\\"')) % 2 or before.count("'") % 2:
                continue                # inside a string: a message, not behaviour
            if repl is None:
                text = m.group(1)
                new = str(float(text) * 2) if "." in text else str(int(text) + 1)
            else:
                new = repl
            yield line[:m.start()] + new + line[m.end():], why


def candidates() -> list[Mutant]:
    out = []
    for path in _python_files():
        rel = str(path.relative_to(ROOT))
        in_doc = False
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            if line.count('"""') % 2:
                in_doc = not in_doc
                continue
            if in_doc:
                continue
            for after, why in _mutations(line):
                if after != line:
                    out.append(Mutant(rel, i, line, after, why))
    return out


def regressions() -> list[Mutant]:
    out = []
    for rel, fragment, repl, why in REGRESSIONS:
        lines = (ROOT / rel).read_text().splitlines()
        hits = [i for i, line in enumerate(lines, start=1) if fragment in line]
        if not hits:
            raise SystemExit(f"regression `{why}`: no line of {rel} contains {fragment!r} any more; "
                             "update REGRESSIONS")
        i = hits[0]
        out.append(Mutant(rel, i, lines[i - 1], lines[i - 1].replace(fragment, repl, 1), why))
    return out


def package(path: str) -> str:
    """`ops` for dslc/ops/x.py, `top` for dslc/x.py."""
    parts = Path(path).parts
    return parts[1] if len(parts) > 2 else "top"


def _tests_for(m: Mutant) -> tuple[list[str], list[str]]:
    """The module's own tests, then the common ones: two pytest runs, so that a mutant its own
    tests kill costs their collection only (collecting all of COMMON takes a minute here)."""
    pkg, stem = package(m.path), Path(m.path).stem
    if pkg not in ("ops", "backends"):
        own, common = MODULE_TESTS.get(stem, []) + PACKAGE_TESTS.get(pkg, []), SHORT_COMMON
    else:
        family = stem.replace("onnx_", "").replace("torch_", "")
        mine = f"tests/test_{family}.py"
        own = FAMILY_TESTS.get(family, []) + ([mine] if (ROOT / mine).exists() else [])
        common = COMMON
    own = list(dict.fromkeys(own))
    return own, [t for t in common if t not in own]


def sample(pool: list[Mutant], n: int, seed: int) -> list[Mutant]:
    """n mutants spread evenly over the packages: each package's mutants shuffled by `seed`,
    then taken round-robin (a package with fewer runs out and the others go on)."""
    rng = random.Random(seed)
    by_pkg: dict[str, list[Mutant]] = {}
    for m in pool:
        by_pkg.setdefault(package(m.path), []).append(m)
    queues = []
    for pkg in sorted(by_pkg):
        ms = by_pkg[pkg]
        rng.shuffle(ms)
        queues.append(ms)
    out = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop())
    return out


class CoverageMap:
    """Which test functions execute each statement of dslc/, measured once (`--map FILE`)."""

    def __init__(self, path: Path):
        import coverage
        self.data = coverage.CoverageData(basename=str(path))
        self.data.read()
        self.files = {f.replace(os.sep, "/"): f for f in self.data.measured_files()}
        self.tests = {p.stem: p for p in (ROOT / "tests").glob("test_*.py")}

    @staticmethod
    def build(path: Path, files: list[str]) -> None:
        """Run the whole suite once under coverage, a context per test function, measuring
        `files` (the mutants' modules: measuring all of dslc/ triples the suite's time)."""
        rc = path.with_suffix(".rc")
        rc.write_text(f"[run]\nsource = dslc\nrelative_files = True\n"
                      f"include =\n" + "".join(f"    {f}\n" for f in sorted(set(files))) +
                      f"dynamic_context = test_function\ndata_file = {path}\n")
        print(f"measuring which tests run each line (the whole suite under coverage) -> {path}",
              flush=True)
        p = subprocess.run([sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m",
                            "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=ROOT,
                           capture_output=True, text=True)
        print(p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr[-2000:], flush=True)

    def tests_for(self, m: Mutant) -> tuple[list[str], bool]:
        """(the node ids of the test functions that execute the mutant's statement, whether it
        also runs while modules load or tests are collected)."""
        stored = self.files.get(m.path)
        if stored is None:
            return [], False
        line, once = _statement_line(ROOT / m.path, m.line)
        contexts = self.data.contexts_by_lineno(stored).get(line, [])
        ids = sorted({i for c in contexts if c for i in [self._node_id(c)] if i})
        return ids, "" in contexts or once

    def _node_id(self, context: str) -> str | None:
        """`test_limits.test_x` (or `tests.test_limits.TestY.test_x`) -> a pytest node id."""
        parts = context.split(".")
        for k, part in enumerate(parts):
            if part in self.tests:
                return "::".join([f"tests/{part}.py", *parts[k + 1:]])
        return None


def _statement_line(path: Path, line: int) -> tuple[int, bool]:
    """The first line of the innermost statement holding `line` (coverage records statements
    by their first line; a mutant may sit on a continuation line), and whether it runs once per
    process: outside any function (a module imported lazily runs it in the first test that
    needs it only) or in a cached function."""
    tree = ast.parse(path.read_text())
    holds = lambda n: n.lineno <= line <= (n.end_lineno or line)
    first = max((n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt) and holds(n)),
                default=line)
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
             and holds(n) and n.lineno < first]
    inner = max(funcs, key=lambda n: n.lineno, default=None)
    once = inner is None or any("cache" in ast.unparse(d) for d in inner.decorator_list)
    return first, once


def run(m: Mutant, work: Path, timeout: int, full: bool = False,
        cover: CoverageMap | None = None) -> tuple[str, float]:
    """'killed', 'survived' or 'timeout' (one pytest run past `timeout` seconds), and the
    seconds it took; `full`: a survivor of the covering tests faces the whole suite too;
    `cover`: the covering tests are those that execute the mutant's statement."""
    target = work / m.path
    original = target.read_text()
    lines = original.splitlines(keepends=True)
    lines[m.line - 1] = m.after + ("\n" if lines[m.line - 1].endswith("\n") else "")
    target.write_text("".join(lines))
    t = time.perf_counter()
    verdict = "survived"
    try:
        suites = [[t for t in ts if (work / t).exists()] for ts in _tests_for(m)]
        if cover is not None:
            ids, at_load = cover.tests_for(m)
            suites = [ids] + (suites if at_load or not ids else [])
        for tests in [ts for ts in suites if ts] + ([["tests"]] if full else []):
            p = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                                "no:cacheprovider", *tests], cwd=work, capture_output=True,
                               env={**os.environ, "PYTHONPATH": str(work)}, timeout=timeout)
            if p.returncode in (1, 2):      # a test failed, or collecting them did
                verdict = "killed"
                break
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    finally:
        target.write_text(original)
    return verdict, time.perf_counter() - t


def _copy_tree() -> Path:
    work = Path(tempfile.mkdtemp(prefix="dslc-mutate-"))
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    for rel in files.splitlines():
        dst = work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    return work


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--regressions", action="store_true")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--packages", nargs="*", default=[], help="sample only these packages")
    ap.add_argument("--full", action="store_true", help="the whole suite for each survivor")
    ap.add_argument("--only", nargs="*", default=[], metavar="PATH:LINE",
                    help="run just the sampled mutants at these places (re-checking survivors)")
    ap.add_argument("--map", type=Path, metavar="FILE",
                    help="choose covering tests by coverage (FILE is made first if missing)")
    args = ap.parse_args()
    cover = None
    mutants = regressions() if args.regressions else []
    if args.sample:
        pool = [m for m in candidates() if not args.packages or package(m.path) in args.packages]
        mutants += sample(pool, args.sample, args.seed)
        counts: dict[str, int] = {}
        for m in pool:
            counts[package(m.path)] = counts.get(package(m.path), 0) + 1
        print(f"{len(pool)} candidate mutants in {', '.join(TARGETS)} "
              f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
              f"sampled {len(mutants)} (seed {args.seed})")
    if args.only:
        mutants = [m for m in mutants if f"{m.path}:{m.line}" in args.only]
    if args.map:
        if not args.map.exists():
            CoverageMap.build(args.map.resolve(), [m.path for m in mutants])
        cover = CoverageMap(args.map.resolve())
    work = _copy_tree()
    survivors, tally = [], {}
    try:
        for k, m in enumerate(mutants, start=1):
            verdict, secs = run(m, work, args.timeout, args.full, cover)
            print(f"[{k}/{len(mutants)}] {verdict:8} {secs:5.0f} s  {m.path}:{m.line}  {m.why}",
                  flush=True)
            t = tally.setdefault(package(m.path), [0, 0])
            t[0] += verdict == "killed"
            t[1] += 1
            if verdict != "killed":
                survivors.append((m, verdict))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(mutants) - len(survivors)} of {len(mutants)} mutants killed; "
          f"{len(survivors)} survived\n")
    print("| package | killed | mutants | kill rate |\n| --- | --- | --- | --- |")
    for pkg, (k, n) in sorted(tally.items()):
        print(f"| {pkg} | {k} | {n} | {100 * k / n:.0f}% |")
    print()
    if survivors:
        print("| where | mutation | line after |\n| --- | --- | --- |")
        for m, verdict in survivors:
            print(f"| {m.path}:{m.line} | {m.why} ({verdict}) | `{m.after.strip()}` |")
    sys.exit(1 if args.regressions and any(m.why in {r[3] for r in REGRESSIONS} for m, _ in survivors) else 0)


if __name__ == "__main__":
    main()
