"""The front door: text or path -> Program (parse, elaborate, check)."""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager

from .diagnostics import Diagnostic, SourceMap, Span, SpecError
from .elab.elaborator import elaborate
from .files import normalize, read_spec_file
from .syntax.imports import resolve
from .ir.core import Program
from .syntax.parser import parse


def read_spec(path_or_text: str | os.PathLike) -> tuple[str, str]:
    """(text, file name). A string containing a newline or a brace is spec text, not a path.
    A file that cannot be spec text raises Unreadable (an OSError)."""
    if isinstance(path_or_text, os.PathLike) or (
            isinstance(path_or_text, str) and "\n" not in path_or_text and "{" not in path_or_text):
        return read_spec_file(path_or_text), str(path_or_text)
    return str(path_or_text), "<spec>"


def check_text(text: str, file: str = "<spec>", read=read_spec_file) -> Program:
    """Parse and check; never raises for a bad spec: diagnostics are in the Program. A BOM and
    CRLF line ends are dropped first (the same line:col as the plain text). `read` gives the
    text of an imported file (`dslc.syntax.imports.resolve`)."""
    with _collector_paused():
        return _check_text(normalize(text), file, read)


@contextmanager
def _collector_paused():
    """Python's cycle collector off while one spec is checked: what checking makes (the AST,
    the graph, the types) lives until it ends, and collections on the way re-walked all of it,
    a fifth of checking a 10,000-layer spec."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _check_text(text: str, file: str, read) -> Program:
    sources = SourceMap({file: text})
    tree, diags = parse(text, file)
    if tree is None:
        return Program(models={}, diagnostics=tuple(diags), sources=sources)
    imported, import_diags = resolve(tree, file, sources, read)
    models, diags = elaborate(tree, imported)
    diags = import_diags + diags
    models = {k: m.model_copy(update={"sources": sources}) for k, m in models.items()}
    if not tree.models and not tree.blocks and not diags:
        what = "is empty" if not text.strip() else "defines no model or block"
        diags = [Diagnostic("E210", f"the file {what}", Span(file, 1, 1, 1, 2),
                            help="add `model Name { input x: f32[N, 4]  output y = x -> dense(2) }`")]
    return Program(models=models, blocks=tuple(b.name for b in tree.blocks),
                   diagnostics=tuple(diags), sources=sources)


def load(path_or_text: str | os.PathLike) -> Program:
    """Load a spec from a path or from text. Raises SpecError (with every diagnostic) if the
    spec has errors, OSError (dslc.files.Unreadable) if the file cannot be spec text."""
    text, file = read_spec(path_or_text)
    program = check_text(text, file)
    if program.errors:
        raise SpecError(program.errors, program.sources)
    return program


def save_torch(model, module, path: str | os.PathLike, dtype: str | None = None) -> None:
    """Save `module` (`model.to_torch(dtype=dtype)`, trained or not) in the weights-only form:
    the spec's text and the state_dict, loadable by `torch.load(path, weights_only=True)`."""
    import torch
    from .backends.torch.state import state
    torch.save(state(model, module, dtype), path)


def load_torch(path: str | os.PathLike):
    """The module `save_torch` (or `dslc compile --target torch-state`) wrote, rebuilt from the
    saved spec with its weights; the file is read with weights_only=True (no code runs)."""
    from .backends.torch.state import load as load_state
    return load_state(path, check_text)
