"""docs/tutorial.md stays true: every `$ dslc ...` command of the page prints exactly the
output shown under it (run from the repository root), every dl snippet checks, and the counts
it quotes are the course texts' (the specs' `# params` lines, and the hand formulas)."""
from __future__ import annotations

import re
import shlex

import pytest

import dslc
from specfiles import ROOT, references
from support import cli

PAGE = (ROOT / "docs" / "tutorial.md").read_text()
CONSOLE = re.findall(r"```console\n\$ dslc (.*?)\n(.*?)```", PAGE, re.S)
SNIPPETS = re.findall(r"```dl\n(.*?)```", PAGE, re.S)


def test_the_page_has_its_steps():
    assert len(CONSOLE) >= 8 and len(SNIPPETS) >= 2


@pytest.mark.parametrize("command,shown", CONSOLE, ids=[c for c, _ in CONSOLE])
def test_command_prints_what_the_page_shows(command, shown, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = cli(capsys, *shlex.split(command))
    assert out + err == shown
    assert code == (1 if "error[" in shown else 0)


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippets_check(text):
    program = dslc.check_text(text, "tutorial.dl")
    assert not program.errors, [d.short() for d in program.errors]


def test_quoted_counts_are_the_texts():
    mlp = [1000, 300, 100, 50, 20, 5, 1]
    by_hand = sum(a * b + b for a, b in zip(mlp, mlp[1:]))
    assert by_hand == 336_581 == references(ROOT / "specs/seeds/mlp.dl")["DeepMLP"]
    assert "= 336,581" in PAGE
    refs = {**references(ROOT / "specs/seeds/inception.dl"),
            **references(ROOT / "specs/seeds/topologies.dl"),
            **references(ROOT / "specs/seeds/lenet.dl")}
    for name, count in re.findall(r"^(\w+): ([\d,]+) parameters;", PAGE, re.M):
        assert refs.get(name, by_hand if name == "DeepMLP" else None) == int(count.replace(",", "")), name
    assert 6 * (16 + 1) + 5 * (9 + 1) == refs["Inception1"]
    assert 6 * (16 * 11 + 1) + 5 * (9 * 11 + 1) == refs["Inception2"]
    assert 2 * (11 * 3 + 3) + 6 * (16 * 3 + 1) + 5 * (9 * 3 + 1) == refs["Inception2Reduced"]
