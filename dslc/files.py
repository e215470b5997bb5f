"""Reading input files: one reader for the command line, the API and `import`, so a file that
cannot be read fails the same way everywhere. Only regular files are read (stat before open: a
FIFO, a device or a socket is refused, never waited on or read without end), and at most a
bound's worth of bytes. Spec text: a BOM or CRLF line ends parse exactly as the plain file (same
line:col in every diagnostic)."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .limits import MAX_SPEC_BYTES

BOM = "\ufeff"


class Unreadable(OSError):
    """A file that cannot be read: missing, a directory or another non-regular file, unreadable,
    too large; for spec text also binary (a NUL byte) or not UTF-8. `strerror` is the reason,
    in the words the command line prints."""

    def __str__(self) -> str:
        return f"cannot read '{self.filename}': {self.strerror}"


def normalize(text: str) -> str:
    """Spec text as the parser sees it: a leading BOM dropped, CRLF and lone CR line ends made
    LF. Nothing else changes, so columns are those of the file as written."""
    if text.startswith(BOM):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_spec_file(path: str | Path) -> str:
    """The normalized text of a spec file; Unreadable (an OSError) if it cannot be one."""
    return spec_text(read_regular(path, MAX_SPEC_BYTES), path)


def spec_text(data: bytes, path: str | Path) -> str:
    """Spec bytes as text: Unreadable if binary (a NUL byte) or not UTF-8."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise Unreadable(errno.EINVAL, f"a binary file, not spec text (a NUL byte at byte {nul})", str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unreadable(errno.EINVAL, f"not UTF-8 text ({e.reason} at byte {e.start})", str(path)) from None
    return normalize(text)


_KINDS = ((stat.S_ISDIR, "Is a directory"), (stat.S_ISFIFO, "a FIFO, not a regular file"),
          (stat.S_ISCHR, "a character device, not a regular file"),
          (stat.S_ISBLK, "a block device, not a regular file"),
          (stat.S_ISSOCK, "a socket, not a regular file"))


def not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read or written (a directory, a FIFO, a device), or None
    for a regular file."""
    return next((why for test, why in _KINDS if test(mode)), None if stat.S_ISREG(mode)
                else "not a regular file")


def read_regular(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; Unreadable otherwise. The path is
    stat'ed before it is opened, opened without blocking and checked again on the descriptor."""
    try:
        why = not_regular(os.stat(path).st_mode)
        if why:
            raise Unreadable(errno.EINVAL, why, str(path))
        fd = _open(path)
        with os.fdopen(fd, "rb") as f:
            why = not_regular(os.fstat(fd).st_mode)
            if why:
                raise Unreadable(errno.EINVAL, why, str(path))
            return read_stream(f, limit, path)
    except Unreadable:
        raise
    except (OSError, ValueError) as e:      # ValueError: a path with a NUL byte
        raise Unreadable(getattr(e, "errno", None) or errno.EINVAL,
                         getattr(e, "strerror", None) or str(e), str(path)) from None


_CHUNK = 1 << 24


def read_stream(f, limit: int, path: str | Path) -> bytes:
    """At most `limit` bytes from a binary stream; Unreadable when it holds more. Read in
    chunks: `f.read(limit + 1)` allocates the whole bound first (the available memory, for
    weights and graphs), which fails under a memory ulimit however small the file."""
    chunks, size = [], 0
    while size <= limit:
        chunk = f.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise Unreadable(errno.EFBIG, f"larger than {limit:,} bytes, the most dslc reads here",
                         str(path))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _open(path) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
