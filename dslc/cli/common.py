"""What every command shares: the usage error (and its --json form), reading specs and files,
picking a model, writing outputs atomically, optional imports, --dim parsing."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import sys
import tempfile
import threading
from pathlib import Path

from ..api import check_text
from ..diagnostics import render, use_color
from ..files import not_regular, read_regular, read_spec_file, read_stream, spec_text
from ..limits import MAX_SPEC_BYTES

DTYPE_CHOICES = ("f16", "bf16", "f64")


class Usage(Exception):
    """A usage or I/O problem: one line on stderr, exit 2 (and under --json, failure_json on
    stdout)."""

    prefix = "dslc"
    usage = ""        # argparse's usage line, printed before the error


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are Usage, so that --json can report them as JSON; without
    --json they print as argparse prints them (the usage line, then `prog: error: ...`)."""

    def error(self, message):
        e = Usage(message)
        e.prefix, e.usage = f"{self.prog}: error", self.format_usage()
        raise e


def failure_json(message: str) -> dict:
    """The --json document of a command that stopped on a usage or I/O error (exit 2) before
    it had a spec's diagnostics: no models, no diagnostics, and the stderr line as `error`
    (null in every other document)."""
    return {"models": [], "diagnostics": [], "error": message}


def reason(e: Exception) -> str:
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)


def read(path: str) -> str:
    """A spec's text (dslc.files: BOM and CRLF dropped, binary and non-UTF-8 refused, regular
    files only); `-` is standard input, a pipe too (imports then resolve against the current
    directory)."""
    try:
        if path == "-":          # a text stream without bytes (a test's StringIO) as UTF-8
            data = read_stream(getattr(sys.stdin, "buffer", sys.stdin), MAX_SPEC_BYTES, "-")
            return spec_text(data.encode() if isinstance(data, str) else data, "-")
        return read_spec_file(path)
    except OSError as e:
        raise Usage(f"cannot read '{path}': {reason(e)}")


def read_bytes(path: str) -> bytes:
    """A regular file's bytes (an .onnx, --weights, --input), at most the memory available."""
    from ..checks.memory import available_memory
    try:
        data = read_regular(path, available_memory()[0])
    except OSError as e:
        raise Usage(f"cannot read '{path}': {reason(e)}")
    if not data:
        raise Usage(f"cannot read '{path}': the file is empty")
    return data


def load(path: str):
    program = check_text(read(path), "<stdin>" if path == "-" else path)
    for d in program.diagnostics:
        print(render(d, program.sources, use_color(sys.stderr)), file=sys.stderr)
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
    """`write(tmp)` into a temporary file in the target's directory (created first if missing,
    as `mkdir -p` would), then rename it over the target: the target is always either the old
    file or the whole new one. A failure, Ctrl-C, SIGTERM or SIGHUP removes the temporary file
    (the signals then exit 128 + their number). SIGKILL cannot be caught: its temporary file
    stays, hidden as `.NAME.PID.*.tmp`, until the next write to the same target removes those
    of processes that are gone. A symlink is written through (its target replaced, the link
    kept), and an existing file keeps its mode and, where allowed, its owner."""
    with _signals_exit():
        tmp = None
        try:
            _writable(path)
            if path.is_symlink():
                path = Path(os.path.realpath(path))
            old = os.stat(path) if path.exists() else None
            path.parent.mkdir(parents=True, exist_ok=True)
            _sweep(path)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                       suffix=".tmp")
            os.close(fd)
            write(tmp)
            os.chmod(tmp, stat.S_IMODE(old.st_mode) if old else 0o666 & ~_umask())  # mkstemp: 0600
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(OSError):
                    os.chown(tmp, old.st_uid, old.st_gid)
            os.replace(tmp, path)
        except OSError as e:
            raise Usage(f"cannot write '{path}': {reason(e)}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


def _writable(path: Path) -> None:
    """Usage unless `path` is new or a regular file (through symlinks): a directory, a device,
    a FIFO or a socket is refused, never replaced by the rename."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    why = not_regular(mode)
    if why:
        raise Usage(f"cannot write '{path}': {why}")


@contextlib.contextmanager
def _signals_exit():
    """SIGTERM and SIGHUP raise SystemExit(128 + signal) inside, so `finally` blocks run
    (their default action kills the process on the spot). Only the main thread sets handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {s: signal.signal(s, stop) for s in wanted}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _sweep(path: Path) -> None:
    """Remove the temporary files of earlier writes to `path` whose process is gone (killed).
    POSIX only (elsewhere os.kill(pid, 0) is no probe)."""
    if os.name != "posix":
        return
    prefix = f".{path.name}."
    for leftover in path.parent.iterdir():
        pid = leftover.name[len(prefix):].split(".")[0]
        if (leftover.name.startswith(prefix) and leftover.name.endswith(".tmp") and pid.isdigit()
                and not _alive(int(pid))):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # another user's process
        return True
    return True


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


def reporting(drawn, stream=None, every: float = 0.2):
    """`drawn` (a passes.weights.Drawn) that shows its progress on `stream` (stderr) while its
    weights are drawn, `drawing weights: 45% (56,012,800 of 124,439,808)`, redrawn in place at
    most every `every` seconds; `drawn` itself when the stream is not a terminal."""
    import time

    from ..passes.weights import Drawn
    stream = stream or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()) or os.environ.get("TERM") == "dumb" \
            or not len(drawn):
        return drawn
    total = sum(drawn.size(k) for k in drawn)

    class Reported(Drawn):
        done, last = 0, 0.0

        def __getitem__(self, name):
            value = super().__getitem__(name)
            self.done += self.size(name)
            now = time.monotonic()
            if now - self.last >= every or self.done >= total:
                self.last = now
                end = "\n" if self.done >= total else ""
                stream.write(f"\rdrawing weights: {self.done / total:.0%} "
                             f"({self.done:,} of {total:,}){end}")
                stream.flush()
            return value
    out = Reported.__new__(Reported)
    out.__dict__.update(drawn.__dict__)
    return out


def max_memory_arg(text: str) -> int:
    """argparse type of --max-memory: bytes from `64G`, `512M`, `1.5T` (powers of 1024)."""
    from ..checks.memory import parse_size
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def seed_arg(text: str) -> int:
    """argparse type of --seed: an integer >= 0 (numpy's generators take no negative seed)."""
    if not (text.isdigit() and len(text) <= 20 and int(text) < 2 ** 64):
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to 2**64 - 1, got '{text}'")
    return int(text)


class _Rename(argparse.Action):
    """--rename and --rename-file append (flag, value) to one list: the rules keep the order
    the flags were given in."""

    def __call__(self, parser, namespace, value, option_string=None):
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest) or ()),
                                       (option_string, value)])


def weights_args(parser, help: str) -> None:
    """--weights FILE, --rename, --rename-file and --allow-nonfinite, as compile and run take
    them."""
    parser.add_argument("--weights", metavar="FILE", help=help)
    parser.add_argument("--rename", action=_Rename, dest="rename", metavar="'REGEX -> NAME'",
                        help="with --weights: rename the file's keys matching REGEX (a dotted "
                             "prefix, Python re syntax; \\1 its groups) to NAME; an empty NAME "
                             "drops them, NAME:T transposes a 2-D tensor; repeatable, the first "
                             "rule that matches a key renames it")
    parser.add_argument("--rename-file", action=_Rename, dest="rename", metavar="FILE",
                        help="with --weights: rename rules, one per line (# comments)")
    parser.add_argument("--allow-nonfinite", action="store_true",
                        help="with --weights: accept NaN and inf values (refused by default)")


def parse_dims(items) -> dict[str, int]:
    dims = {}
    for item in items or ():
        name, _, value = item.partition("=")
        if not name or not (value.isascii() and value.isdigit()) or len(value) > 19 or \
                not 1 <= int(value) < 2 ** 63:          # `T=٣` is no size: ASCII digits only
            raise Usage(f"--dim wants NAME=SIZE with a size from 1 to 2**63 - 1, got '{item}'")
        dims[name] = int(value)
    return dims
