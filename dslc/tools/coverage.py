"""The coverage matrix: for every op kind and every target (torch, torch-src, ONNX, ONNX under
--fuse, `dslc import`), whether it lowers, and the few instances a target refuses.

Read from the code, nothing imported (neither torch nor onnx): a target's cell is its table's
entry for the op class (dslc/backends/<target>/, found through the MRO, as the backend finds
it) and the message of every `raise Unsupported(...)` that entry can reach (tools.lowering_scan
follows its calls). The import column states what tests/test_onnx_import.py proves: the kinds
of every model it round-trips (every valid spec under specs/ but the ir-only ones) read back as
themselves, or as the kind the graph cannot tell them from (IMPORTED_AS).
tests/test_coverage.py checks every op has an entry in every table, and that the refusals are
exactly the listed ones."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..ops import INDEX, OPS
from .lowering_scan import scan

# column -> the table its cells read
TABLES = {"torch": ("dslc.backends.torch.table", "lowering"),
          "torch-src": ("dslc.backends.torch_src.table", "source"),
          "onnx": ("dslc.backends.onnx.table", "lowering")}
FUSED = ("dslc.backends.onnx.table", "fused")
COLUMNS = ("torch", "torch-src", "onnx", "onnx --fuse", "import")

# Kinds dslc's ONNX graph cannot tell apart, and what `dslc import` reads them as: a
# rank-specific pool or batchnorm and its generic form; transpose and a permute; flatten, a
# Reshape like any other; noise read from a model input, phase_shuffle and drop_path (training
# only), the Identity they lower to in a graph, read as dropout (the input stays an input).
IMPORTED_AS = {"transpose": "permute", "flatten": "reshape", "randn_like": "dropout",
               "rand_like": "dropout", "bernoulli": "dropout", "phase_shuffle": "dropout",
               "drop_path": "dropout"}


def imported_as(kind: str) -> str:
    kind = re.sub(r"^(maxpool|avgpool|batchnorm)[123]d$", r"\1", kind)
    return IMPORTED_AS.get(kind, kind)


@dataclass(frozen=True)
class Cell:
    lowers: bool
    note: str = ""                      # the fused form, what an import reads it as
    refusals: tuple[str, ...] = ()      # the instances this target refuses (E401)


def cell(kind: str, column: str) -> Cell:
    op = OPS[kind]
    if column in TABLES:
        refusals: set[str] = set()
        found = scan(op, TABLES[column], refusals=refusals)
        return Cell(found, refusals=tuple(sorted(refusals)))
    if column == "onnx --fuse":
        types: set[str] = set()
        if scan(op, FUSED, types):
            contrib = sorted(t.split(" ")[0] for t in types if t.startswith("com.microsoft."))
            return Cell(True, f"{', '.join(contrib)} where it fits, else standard form")
        return Cell(True, "standard form")
    read = kind in round_tripped()
    as_ = imported_as(kind)
    return Cell(read, f"as `{as_}`" if read and as_ != kind else "" if read else
                "no round-trip test uses it")


@lru_cache(maxsize=None)
def round_tripped() -> frozenset[str]:
    """The op kinds of the models tests/test_onnx_import.py round-trips: every model of every
    valid spec under specs/ but the ir-only ones."""
    from .reference import spec_files, _nodes
    return frozenset(n.kind for p in spec_files()
                     if not re.search(r"^#\s*ir-only\s*$", p.read_text(encoding="utf-8"), re.M)
                     for _, n in _nodes(p))


def matrix() -> dict[str, dict[str, Cell]]:
    return {kind: {c: cell(kind, c) for c in COLUMNS} for kind in INDEX}


def markdown() -> list[str]:
    """The matrix as a Markdown table, refusals listed under it."""
    lines = ["| op | " + " | ".join(COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    notes = []
    for kind, row in matrix().items():
        cells = []
        for column, c in row.items():
            yes = "reads" if column == "import" else "lowers"
            mark = ", ".join(x for x in ((yes if c.lowers else "—"), c.note) if x)
            if c.refusals:
                notes += [f"- `{kind}`, {column}: {r}" for r in c.refusals]
                mark += " (see below)"
            cells.append(mark)
        lines.append(f"| [`{kind}`](#{kind}) | " + " | ".join(cells) + " |")
    return lines + ["", "Instances a target refuses, each an E401 at the spec line (`dslc check "
                    "--target TARGET` reports them before any compile):", ""] + notes
