"""The front door: text or path -> Program (parse, elaborate, check)."""
from __future__ import annotations

import os
from pathlib import Path

from .diagnostics import Diagnostic, SourceMap, Span, SpecError
from .elaborate import elaborate
from .imports import resolve
from .ir import Program
from .parser import parse


def read_spec(path_or_text: str | os.PathLike) -> tuple[str, str]:
    """(text, file name). A string containing a newline or a brace is spec text, not a path."""
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text and "{" not in path_or_text):
        p = Path(path_or_text)
        return p.read_text(encoding="utf-8"), str(path_or_text)
    return str(path_or_text), "<spec>"


def check_text(text: str, file: str = "<spec>") -> Program:
    """Parse and check; never raises for a bad spec: diagnostics are in the Program."""
    sources = SourceMap({file: text})
    tree, diags = parse(text, file)
    if tree is None:
        return Program(models={}, diagnostics=tuple(diags), sources=sources)
    imported, import_diags = resolve(tree, file, sources)
    models, diags = elaborate(tree, imported)
    diags = import_diags + diags
    models = {k: m.model_copy(update={"sources": sources}) for k, m in models.items()}
    if not tree.models and not tree.blocks and not diags:
        diags = [Diagnostic("E210", "the file defines no model or block", Span(file, 1, 1, 1, 2),
                            help="add `model Name { input x: f32[N, 4]  output y = x -> dense(2) }`")]
    return Program(models=models, blocks=tuple(b.name for b in tree.blocks),
                   diagnostics=tuple(diags), sources=sources)


def load(path_or_text: str | os.PathLike) -> Program:
    """Load a spec from a path or from text. Raises SpecError (with every diagnostic) if the
    spec has errors, OSError if the file cannot be read."""
    text, file = read_spec(path_or_text)
    program = check_text(text, file)
    if program.errors:
        raise SpecError(program.errors, program.sources)
    return program
