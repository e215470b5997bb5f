"""`dslc check --max-params 25M --max-macs 5G`: a model over a budget is an error at its
`model` line, with notes at the layers that spend the most (IR only: nothing is allocated).

Counts take decimal suffixes, as model sizes are quoted (25M parameters, 4.1G MACs): K = 10**3,
M = 10**6, G = 10**9, T = 10**12; `25_000_000` and `25,000,000` are the same number. MACs are
per example (the batch symbols at 1), the convention of `dslc summary`; a model whose MACs
still depend on a symbol after --dim cannot be checked against --max-macs, and says which."""
from __future__ import annotations

import re
from decimal import Decimal

from ..diagnostics import Diagnostic
from .summary import macs_per_example, total_macs

_SUFFIX = {"": 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "B": 10 ** 9, "T": 10 ** 12}
TOP = 3          # the layers named in the notes


def parse_count(text: str) -> int:
    """25M -> 25,000,000; 1.5G; 4096; 25_000_000. ValueError for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:[_,]\d+)*(?:\.\d+)?)\s*([KMGBT]?)\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"a count is a number with an optional K, M, G or T (25M, 4.5G), got '{text}'")
    value = Decimal(m.group(1).replace("_", "").replace(",", "")) * _SUFFIX[m.group(2).upper()]
    if value != int(value):           # Decimal: 4.1G is exactly 4,100,000,000
        raise ValueError(f"a count is a whole number, got '{text}' = {value:f}")
    return int(value)


def check_budgets(model, max_params: int | None = None, max_macs: int | None = None,
                  dims: dict | None = None, flags: dict | None = None) -> list[Diagnostic]:
    """E501 for each budget the model exceeds (or cannot be checked against). `flags`: how
    each budget was written on the command line, for the message."""
    flags = flags or {}
    out = []
    if max_params is not None and model.params > max_params:
        spend = [(n, n.own_params()) for n in model.nodes]
        out.append(_over(model, "parameters", model.params, max_params,
                         flags.get("params", f"--max-params {max_params}"), spend))
    if max_macs is not None:
        total = total_macs(model, dims)
        if not total.is_const():
            names = ", ".join(sorted(total.symbols()))
            out.append(Diagnostic(
                "E501", f"model {model.name}: cannot check {flags.get('macs', '--max-macs')}: "
                f"its MACs per example depend on {names}", model.span, got=str(total),
                help="give their sizes: " + " ".join(f"--dim {s}=..." for s in sorted(total.symbols()))))
        elif total.value > max_macs:
            spend = [(n, macs_per_example(model, n).subs(dims or {})) for n in model.nodes]
            spend = [(n, m.value) for n, m in spend if m.is_const()]
            out.append(_over(model, "MACs per example", total.value, max_macs,
                             flags.get("macs", f"--max-macs {max_macs}"), spend))
    return out


def _over(model, what: str, value: int, budget: int, flag: str, spend) -> Diagnostic:
    """E501 with a note at each of the TOP places of the spec that spend the most: the layers
    written at one place (a block's line, called 16 times) add up."""
    places: dict = {}
    for n, count in spend:
        if count:
            total, names = places.get(n.span, (0, []))
            places[n.span] = (total + count, names + [n.name])
    top = sorted(places.items(), key=lambda p: -p[1][0])[:TOP]
    notes = tuple((span, f"{count:,} {what} ({count / value:.1%}) in "
                   + (names[0] if len(names) == 1 else f"{len(names)} layers ({names[0]}, ...)"))
                  for span, (count, names) in top)
    return Diagnostic("E501", f"model {model.name} has {value:,} {what}, over the budget of "
                      f"{budget:,} ({flag})", model.span, expected=f"at most {budget:,}",
                      got=f"{value:,} ({value / budget:.2f}x the budget)", notes=notes,
                      help=f"the {len(top)} places that spend the most are noted above")
