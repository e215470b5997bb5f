"""`import "layers.dl"`: the blocks of other spec files (a library of blocks); their models stay
behind. The rules:
- an import names a `.dl` file by a relative path, resolved against the directory of the file
  that imports it (`..` allowed; spec text without a file resolves against the current
  directory). An absolute path, or a path that is not a `.dl` file (after symlinks), is E105:
  an import never reads anything but spec files;
- each file is read once (a diamond of imports is fine); an import that leads back to a file
  being imported is E104 at the import that closes the cycle, with the chain
  `a.dl -> b.dl -> a.dl` and a note at every import along it;
- a file that cannot be read, is binary, is not UTF-8 or is empty is E100 at the import."""
from __future__ import annotations

import os
from pathlib import Path

from . import ast
from ..diagnostics import Diagnostic, SourceMap
from ..files import Unreadable, read_spec_file
from .parser import parse


def resolve(tree: ast.File, file: str, sources: SourceMap,
            read=read_spec_file) -> tuple[tuple, list[Diagnostic]]:
    """(the imported blocks, diagnostics), following imports of imports depth first. `read`
    maps a file name to its text (raising Unreadable): the disk, or a saved copy of the spec."""
    root = Path(file).resolve() if file != "<spec>" else None
    blocks, diags = [], []
    done = {root} if root else set()
    # the chain of files being imported: (name, resolved path, imports left, the import here)
    stack = [(file, root, iter(tree.imports), None)]
    while stack:
        name, _, todo, _ = stack[-1]
        imp = next(todo, None)
        if imp is None:
            stack.pop()
            continue
        where = Path(name).parent if name != "<spec>" else Path(".")
        path, target, problem = _target(imp, where)
        if problem:
            diags.append(problem)
            continue
        chain = [entry[1] for entry in stack]
        if target in chain:
            diags.append(_cycle(imp, stack[chain.index(target):], Path(file).parent))
            continue
        if target in done:
            continue
        done.add(target)
        try:
            text = read(str(path))
        except Unreadable as e:
            diags.append(Diagnostic("E100", f"cannot import '{imp.path}': {e.strerror}", imp.span,
                                    help=f"paths are relative to {_dir(where)}"))
            continue
        if not text.strip():
            diags.append(Diagnostic("E100", f"cannot import '{imp.path}': the file is empty", imp.span))
            continue
        sources.texts[str(path)] = text
        sub, errs = parse(text, str(path))
        diags += errs
        if sub is not None:
            blocks += sub.blocks
            stack.append((str(path), target, iter(sub.imports), imp))
    return tuple(blocks), diags


def _dir(where: Path) -> str:
    return "the current directory" if str(where) == "." else f"{where}/"


def _target(imp: ast.Import, where: Path) -> tuple[Path, Path | None, Diagnostic | None]:
    """(the path an import names, that path resolved, None), or a diagnostic in place of the
    resolved path: E105 if it is absolute, holds a NUL or is not a `.dl` file, E100 if its
    symlinks loop."""
    path = Path(imp.path)
    if "\0" in imp.path:
        return path, None, Diagnostic("E105", "an import names a file, got a path with a NUL "
                                      "character", imp.span, got=ascii(imp.path))
    if path.is_absolute():
        return path, None, Diagnostic("E105", f"an import names a relative path, got the absolute "
                                      f"'{imp.path}'", imp.span,
                                      help=f"write the path relative to {_dir(where)}")
    path = where / path
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as e:   # RuntimeError: a symlink loop before Python 3.13
        why = e.strerror if isinstance(e, OSError) and e.strerror else "its symlinks loop"
        return path, None, Diagnostic("E100", f"cannot import '{imp.path}': {why}", imp.span)
    if path.suffix != ".dl" or target.suffix != ".dl":
        return path, None, Diagnostic("E105", f"an import names a .dl spec file, got '{imp.path}'"
                                      + ("" if path.suffix != ".dl" else f" (a link to '{target}')"),
                                      imp.span, expected="a path ending in .dl", got=repr(imp.path))
    return path, target, None


def _cycle(imp: ast.Import, chain: list, base: Path) -> Diagnostic:
    """E104 at `imp`, which imports the first file of `chain` (the files being imported, the
    last one holding `imp`), with a note at each import along the chain. Files are named
    relative to the directory of the spec being checked (`base`)."""
    def short(name: str) -> str:
        return os.path.relpath(name, base) if name != "<spec>" else name
    names = [short(entry[0]) for entry in chain] + [short(chain[0][0])]
    notes = tuple((entry[3].span, f"{short(parent[0])} imports {short(entry[0])} here")
                  for parent, entry in zip(chain, chain[1:]))
    help = ("delete the import: a file's own blocks are already in scope" if len(chain) == 1
            else "move the blocks both files need into a third file that both import")
    return Diagnostic("E104", "import cycle: " + " -> ".join(names), imp.span, notes=notes,
                      help=help)
