"""What every command shares: the usage error, reading specs and files, picking a model,
writing outputs atomically, optional imports, --dim parsing."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..api import check_text
from ..diagnostics import render

DTYPE_CHOICES = ("f16", "bf16", "f64")


class Usage(Exception):
    """A usage or I/O problem: one line on stderr, exit 2."""

    prefix = "dslc"


def reason(e: Exception) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise Usage(f"cannot read '{path}': not UTF-8 text ({e.reason} at byte {e.start})")
    except OSError as e:
        raise Usage(f"cannot read '{path}': {reason(e)}")


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise Usage(f"cannot read '{path}': {reason(e)}")


def load(path: str):
    program = check_text(read(path), path)
    for d in program.diagnostics:
        print(render(d, program.sources), file=sys.stderr)
    return program


def pick(program, name: str | None):
    if name is not None:
        if name not in program.models:
            raise Usage(f"no model `{name}` in the spec (it has {', '.join(program.models) or 'none'})")
        return program.models[name]
    if len(program.models) != 1:
        raise Usage(f"the spec has {len(program.models)} models ({', '.join(program.models)}): "
                    "choose one with --model")
    return next(iter(program.models.values()))


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: a failure never
    leaves a partial output behind."""
    if path.is_dir():
        raise Usage(f"cannot write '{path}': Is a directory")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as e:
        raise Usage(f"cannot write '{path}': {reason(e)}")
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def need(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError:
        raise Usage(f"this command needs {module}: pip install 'dslc[{extra}]'"
                    + (" (install torch==2.13.0 first for the CPU wheel)" if module == "torch" else ""))


def parse_dims(items) -> dict[str, int]:
    dims = {}
    for item in items or ():
        name, _, value = item.partition("=")
        if not name or not value.lstrip("-").isdigit() or int(value) < 1:
            raise Usage(f"--dim wants NAME=SIZE with a positive size, got '{item}'")
        dims[name] = int(value)
    return dims
