"""`dslc check --watch`: checks, then re-checks in the same process when the spec or a file it
imports changes, and stops on Ctrl-C with exit 0."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time


class _Reader:
    """Lines of a process's stdout and stderr, read by threads; `until` looks among the lines
    since the last `mark` (the two streams interleave in any order)."""

    def __init__(self, proc):
        self.queue, self.lines, self.start = queue.Queue(), [], 0
        self.stderr: list[str] = []          # the lines of stderr alone
        self.threads = [threading.Thread(target=self._pump, args=(stream, stream is proc.stderr),
                                         daemon=True) for stream in (proc.stdout, proc.stderr)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, is_stderr: bool):
        for line in stream:
            if is_stderr:
                self.stderr.append(line)
            self.queue.put(line)

    def mark(self) -> None:
        self._drain(0)
        self.start = len(self.lines)

    def _drain(self, timeout: float) -> None:
        try:
            self.lines.append(self.queue.get(timeout=timeout))
            while True:
                self.lines.append(self.queue.get_nowait())
        except queue.Empty:
            pass

    def until(self, want: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not any(want in line for line in self.lines[self.start:]):
            if time.monotonic() > end:
                raise AssertionError(f"no line with {want!r} within {timeout} s; got:\n"
                                     + "".join(self.lines[self.start:]))
            self._drain(0.5)


def test_watch_rechecks_on_save_and_stops_on_ctrl_c(tmp_path):
    lib = tmp_path / "lib.dl"
    lib.write_text("block Head(x: [N, D], n: int) {\n    return x -> dense(n)\n}\n")
    spec = tmp_path / "m.dl"
    spec.write_text('import "lib.dl"\nmodel M {\n    input x: f32[N, 4]\n'
                    "    output y = x -> Head(3)\n}\n")
    proc = subprocess.Popen([sys.executable, "-m", "dslc", "check", "--watch", str(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                            env={**os.environ, "NO_COLOR": "1"})
    out = _Reader(proc)
    try:
        out.until("M: 15 parameters; y: f32[N, 3]")      # 4*3 + 3
        out.until("watching 2 file(s)")
        out.mark()
        spec.write_text(spec.read_text().replace("Head(3)", "Head(3) -> conv2d(2, 3)"))
        out.until("error[E301]: conv2d expects")
        out.until("m.dl changed; checked in")
        out.mark()
        lib.write_text(lib.read_text().replace("dense(n)", "dense(n) -> relu"))  # an import
        spec.write_text(spec.read_text().replace(" -> conv2d(2, 3)", ""))
        out.until("M: 15 parameters")
        out.until("changed; checked in")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        for t in out.threads:                # both streams read to their end
            t.join(timeout=10)
        # the watch's own lines go to stderr, so stdout holds the checks alone (--json stays JSON)
        ours = [line for line in out.stderr if line.startswith("dslc check: ")]
        assert any("watching 2 file(s)" in line for line in ours)
        assert sum("changed; checked in" in line for line in ours) == 2
    finally:
        proc.kill()
        proc.wait()


def test_watch_refuses_stdin(capsys):
    from support import cli
    code, _, err = cli(capsys, "check", "--watch", "-")
    assert code == 2 and "standard input cannot be watched" in err
