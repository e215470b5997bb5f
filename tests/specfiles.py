"""The spec corpus under specs/ and the expectations written in its comments.

Valid specs carry `# params Model: 336,581` (the independent reference count) and optionally
`# dims H=64,72 W=64,88` (two values per symbolic dim for the parity runs; batch-like symbols
default to 2 and 3). Negative specs carry `# E: CODE message-fragment` on each line that must
get that diagnostic."""
from __future__ import annotations

import re
from pathlib import Path

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
        m = re.search(r"#\s*E:\s*(E\d{3})\s*(.*)$", line)
        if m:
            out.append((i, m.group(1), m.group(2).strip()))
    return out
