"""Reading spec files: one reader for the command line, the API and `import`, so a file that
cannot be a spec fails the same way everywhere, and a BOM or CRLF line ends parse exactly as
the plain file (same line:col in every diagnostic)."""
from __future__ import annotations

import errno
from pathlib import Path

BOM = "\ufeff"


class Unreadable(OSError):
    """A spec file that cannot be read as text: missing, a directory, unreadable, binary (a NUL
    byte), not UTF-8. `strerror` is the reason, in the words the command line prints."""

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
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise Unreadable(e.errno, e.strerror or str(e), str(path)) from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise Unreadable(errno.EINVAL, f"a binary file, not spec text (a NUL byte at byte {nul})", str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unreadable(errno.EINVAL, f"not UTF-8 text ({e.reason} at byte {e.start})", str(path)) from None
    return normalize(text)
