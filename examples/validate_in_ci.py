"""Validate a folder of specs the way a CI job would: `dslc check --json` with budgets, one
line per model, a non-zero exit when any spec fails or goes over its budget.

The JSON document (README: "The JSON contract") carries every model's counts and every
diagnostic with its file, line, expected/got and notes, so a job can annotate the lines it
blames. A budget is an E501 diagnostic at the model's line. Run as a script it checks the
course-text specs in specs/seeds/ under a 20M-parameter budget, then shows a budget failing.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check(paths, *flags) -> tuple[int, dict]:
    p = subprocess.run([sys.executable, "-m", "dslc", "check", "--json", *flags, *map(str, paths)],
                       capture_output=True, text=True)
    return p.returncode, json.loads(p.stdout)        # valid JSON on failure too


def report(code: int, doc: dict) -> None:
    errors = [d for d in doc["diagnostics"] if d["severity"] == "error"]
    failed = {d["file"] for d in errors}
    for m in doc["models"]:
        status = "ok" if m["file"] not in failed else "-"
        print(f"  {status:5} {Path(m['file']).name:24} {m['name']:22} {m['params']:>12,} parameters")
    for d in errors:
        where = f"{Path(d['file']).name}:{d['line']}" if d["file"] else "?"
        print(f"  FAIL  {where:24} {d['code']} {d['message']}")
        # a CI annotation, as GitHub Actions reads it from the log
        print(f"::error file={d['file']},line={d['line']},col={d['col']}::{d['code']} {d['message']}")
    print(f"  exit {code}")


def main() -> None:
    specs = sorted((ROOT / "specs" / "seeds").glob("*.dl"))
    print(f"{len(specs)} specs, --max-params 20M:")
    code, doc = check(specs, "--max-params", "20M")
    report(code, doc)
    assert code == 0 and doc["error"] is None and len(doc["models"]) >= len(specs)

    print("the 1000-300-100-50-20-5-1 MLP (336,581 parameters) under a 300K budget:")
    code, doc = check([ROOT / "specs" / "seeds" / "mlp.dl"], "--max-params", "300K")
    report(code, doc)
    (d,) = doc["diagnostics"]
    assert code == 1 and d["code"] == "E501" and d["got"].startswith("336,581")


if __name__ == "__main__":
    main()
