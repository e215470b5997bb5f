"""`import "layers.dl"`: the blocks of other spec files (a library of blocks), found relative
to the importing file; their models stay behind. Each file is read once, so cycles are harmless."""
from __future__ import annotations

from pathlib import Path

from . import ast
from .diagnostics import Diagnostic, SourceMap
from .parser import parse


def resolve(tree: ast.File, file: str, sources: SourceMap) -> tuple[tuple, list[Diagnostic]]:
    """(the imported blocks, diagnostics), following imports of imports."""
    base = Path(file).parent if file != "<spec>" else Path.cwd()
    done = {str(Path(file).resolve())} if file != "<spec>" else set()
    blocks, diags = [], []
    todo = [(imp, base) for imp in tree.imports]
    while todo:
        imp, where = todo.pop(0)
        path = (where / imp.path)
        key = str(path.resolve())
        if key in done:
            continue
        done.add(key)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            diags.append(Diagnostic("E100", f"cannot import '{imp.path}': {reason}", imp.span,
                                    help=f"paths are relative to {where}"))
            continue
        name = str(path)
        sources.texts[name] = text
        sub, errs = parse(text, name)
        diags += errs
        if sub is not None:
            blocks += sub.blocks
            todo += [(i, path.parent) for i in sub.imports]
    return tuple(blocks), diags
