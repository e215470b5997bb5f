"""The spec corpus under specs/ and the expectations written in its comments.

Valid specs carry `# params Model: 336,581` (the independent reference count) and optionally
`# dims H=64,72 W=64,88` (two values per symbolic dim for the parity runs; batch-like symbols
default to 2 and 3). Negative specs carry `# E: CODE message-fragment` on each line that must
get that diagnostic (`# W: W201 fragment` for a warning); `# lower: onnx` marks one that checks
cleanly and fails when lowered (E401), `# check: --max-params 10K` one that checks cleanly and
fails `dslc check` with those flags (E501, a budget)."""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from dslc import check_text
from dslc.backends import BackendError

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def valid_specs() -> list[Path]:
    return sorted(p for p in SPECS.rglob("*.dl") if "invalid" not in p.parts)


def invalid_specs() -> list[Path]:
    return sorted((SPECS / "invalid").glob("*.dl"))


def references(path: Path) -> dict[str, int]:
    refs = {}
    for m in re.finditer(r"^#\s*params\s+(\w+)\s*:\s*([\d,_]+)", path.read_text(), re.M):
        refs[m.group(1)] = int(m.group(2).replace(",", "").replace("_", ""))
    return refs


def dim_values(path: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for m in re.finditer(r"^#\s*dims\s+(.*)$", path.read_text(), re.M):
        for item in m.group(1).split():
            name, vals = item.split("=")
            a, b = vals.split(",")
            out[name] = (int(a), int(b))
    return out


def int_ranges(path: Path) -> dict[str, int]:
    """`# ints types=2`: integer inputs drawn from [0, 2) instead of [0, 10)."""
    out = {}
    for m in re.finditer(r"^#\s*ints\s+(.*)$", path.read_text(), re.M):
        for item in m.group(1).split():
            name, high = item.split("=")
            out[name] = int(high)
    return out


def ir_only(path: Path) -> bool:
    """`# ir-only`: a spec checked in the IR alone (its weights are never allocated)."""
    return re.search(r"^#\s*ir-only\s*$", path.read_text(), re.M) is not None


def envs(model, path: Path) -> list[dict[str, int]]:
    given = dim_values(path)
    syms = model.symbols()
    return [{s: given.get(s, (2, 3))[i] for s in syms} for i in (0, 1)]


def expectations(path: Path) -> list[tuple[int, str, str]]:
    out = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        m = re.search(r"#\s*[EW]:\s*([EW]\d{3})\s*(.*)$", line)
        if m:
            out.append((i, m.group(1), m.group(2).strip()))
    return out


LOWERINGS = {"onnx": "to_onnx", "torch": "to_torch", "torch-src": "to_torch_src"}


def lowered_to(path: Path) -> str | None:
    """`# lower: onnx` (or torch, torch-src): the backend a negative spec that checks cleanly
    fails in."""
    m = re.search(r"^#\s*lower:\s*([\w-]+)\s*$", path.read_text(), re.M)
    return m.group(1) if m else None


def check_flags(path: Path) -> list[str]:
    """`# check: --max-params 10K --max-macs 5G --dim H=32`: the `dslc check` flags a negative spec
    fails with (its budgets)."""
    m = re.search(r"^#\s*check:\s*(.*?)\s*$", path.read_text(), re.M)
    return m.group(1).split() if m else []


def cli_args(path: Path, out: str | None = None) -> list[str]:
    """The `dslc` command line that reports a negative spec's diagnostics, run at the repository
    root: `check` (with the spec's `# check:` flags), or `compile` for a `# lower:` spec (its
    output written to `out`, by default NAME.BACKEND)."""
    spec = path.resolve().relative_to(ROOT).as_posix()
    backend = lowered_to(path)
    if backend is None:
        return ["check", spec, *check_flags(path)]
    return ["compile", spec, "--target", backend, "-o", out or f"{path.stem}.{backend}"]


def _budget_diagnostics(program, flags: list[str]) -> list:
    """E501s as `dslc check FLAGS` finds them (dslc/cli/check.py): --max-params, --max-macs,
    --dim, each budget quoted as written."""
    from dslc.tools.budgets import check_budgets, parse_count
    given, dims, it = {}, {}, iter(flags)
    for flag in it:
        value = next(it)
        if flag == "--dim":
            name, size = value.split("=")
            dims[name] = int(size)
        else:
            key = {"--max-params": "params", "--max-macs": "macs"}[flag]
            given[key] = (parse_count(value), f"{flag} {value}")
    out = []
    for model in program.models.values():
        out += check_budgets(model, given.get("params", (None,))[0], given.get("macs", (None,))[0],
                             dims, {k: text for k, (_, text) in given.items()})
    return out


@contextlib.contextmanager
def _at_root():
    """The repository root as the working directory (contextlib.chdir is Python 3.11+)."""
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(here)


def diagnose(path: Path, text: str | None = None):
    """(diagnostics, sources) of a negative spec (or of `text` in its place), checked as
    `dslc check specs/invalid/NAME.dl` run at the repository root checks it (the same file
    names, imports resolved the same way): check's errors and warnings, then, where the check
    found no error, the budget errors of a `# check:` spec and each model's backend errors for a
    `# lower:` spec."""
    name = path.resolve().relative_to(ROOT).as_posix()
    with _at_root():
        program = check_text(path.read_text() if text is None else text, name)
        diagnostics, backend = list(program.diagnostics), lowered_to(path)
        if program.errors:
            return diagnostics, program.sources
        flags = check_flags(path)
        if flags:
            diagnostics += _budget_diagnostics(program, flags)
        if backend is None:
            return diagnostics, program.sources
        for model in program.models.values():
            try:
                getattr(model, LOWERINGS[backend])()
            except BackendError as e:
                diagnostics += e.diagnostics
    return diagnostics, program.sources
