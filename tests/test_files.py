"""Files in and out: every way a spec, an .onnx or an --input file can be unusable is one line
and exit 2 (or a located exit 1); a BOM and CRLF parse as the plain file; outputs are written
atomically, a compile killed mid-write leaving the old file and no temporary one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import dslc
from support import cli as run
from dslc.cli.common import Usage, atomic_write

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "specs" / "seeds" / "mlp.dl")
# errors on line 1 (where a BOM would shift the column) and on line 3
SPEC = ("model A { input x: f32[N, 4]  output y = x -> conv2d(2, 3) }\n"
        "model B {\n"
        "    input x: f32[N, 4]\n"
        "    output y = x -> dense(3) -> maxpool(2) }\n")


def one_line_exit_2(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, (argv, err)
    return err.strip()


# ---- spec files ----
@pytest.mark.parametrize("variant", ["crlf", "cr", "bom", "bom+crlf"])
def test_bom_and_crlf_give_the_plain_files_diagnostics(capsys, tmp_path, variant):
    plain = tmp_path / "plain.dl"
    plain.write_text(SPEC)
    data = SPEC.replace("\n", "\r\n" if "crlf" in variant else "\r" if variant == "cr" else "\n")
    other = tmp_path / "other.dl"
    other.write_bytes((b"\xef\xbb\xbf" if "bom" in variant else b"") + data.encode())
    code, out, err = run(capsys, "check", str(plain))
    assert code == 1 and f"{plain}:1:47: error[E301]" in err and f"{plain}:4:33: error[E301]" in err
    assert run(capsys, "check", str(other)) == (code, out, err.replace(str(plain), str(other)))
    text = other.read_bytes().decode("utf-8")             # the API on the raw text, BOM and all
    spans = [(d.span.line, d.span.col) for d in dslc.check_text(text).errors]
    assert spans == [(1, 47), (4, 33)]


def test_unusable_spec_files_are_one_line_exit_2(capsys, tmp_path, monkeypatch):
    (tmp_path / "binary.dl").write_bytes(b"model M {\x00}")
    (tmp_path / "latin1.dl").write_bytes(b"# caf\xe9\n")
    (tmp_path / "folder.dl").mkdir()
    (tmp_path / "file").write_text("")
    cases = {"binary.dl": "a binary file, not spec text (a NUL byte at byte 9)",
             "latin1.dl": "not UTF-8 text (invalid continuation byte at byte 5)",
             "folder.dl": "Is a directory", "missing.dl": "No such file or directory",
             "file/x.dl": "Not a directory"}
    for name, why in cases.items():
        path = str(tmp_path / name)
        for command in ("check", "summary", "compile"):
            argv = (command, path) + (("--target", "onnx") if command == "compile" else ())
            assert one_line_exit_2(capsys, *argv) == f"dslc: cannot read '{path}': {why}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary.dl", "file", "folder.dl", "latin1.dl"]

    def denied(path):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(dslc.files, "_open", denied)    # root reads any file: simulate the mode
    assert one_line_exit_2(capsys, "check", MLP) == f"dslc: cannot read '{MLP}': Permission denied"


def test_the_api_raises_oserror_for_the_same_files(tmp_path):
    (tmp_path / "binary.dl").write_bytes(b"\x00")
    for name in ("binary.dl", "missing.dl"):
        with pytest.raises(OSError, match=f"cannot read '.*{name}': "):
            dslc.load(tmp_path / name)


def test_an_empty_spec_is_a_located_error(capsys, tmp_path):
    for name, text, what in [("empty.dl", "", "is empty"), ("blank.dl", " \r\n\n", "is empty"),
                             ("comments.dl", "# nothing yet\n", "defines no model or block")]:
        (tmp_path / name).write_text(text)
        code, out, err = run(capsys, "check", str(tmp_path / name))
        assert code == 1 and out == "" and err.startswith(f"{tmp_path / name}:1:1: error[E210]: the file {what}\n")


# ---- .onnx and --input files ----
def test_unusable_onnx_and_npy_files_are_one_line_exit_2(capsys, tmp_path):
    import numpy as np
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "text.onnx").write_text("hello")
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("1 2 3")
    np.save(tmp_path / "objects.npy", np.array([{"code": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "good.npy", np.zeros((1, 1000), np.float32))
    (tmp_path / "truncated.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:300])
    (tmp_path / "folder.npy").mkdir()
    at = lambda name: str(tmp_path / name)    # noqa: E731
    assert one_line_exit_2(capsys, "run", at("empty.onnx")) == f"dslc: cannot read '{at('empty.onnx')}': the file is empty"
    assert one_line_exit_2(capsys, "run", at("text.onnx")).startswith("dslc: onnxruntime: ")
    for name, why in [("empty.npy", "the file is empty"), ("text.npy", "not a .npy file (np.save writes one)"),
                      ("folder.npy", "Is a directory"), ("missing.npy", "No such file or directory")]:
        line = one_line_exit_2(capsys, "run", MLP, "--input", f"x={at(name)}")
        assert line == f"dslc: cannot read '{at(name)}': {why}"
    for name, why in [("objects.npy", "allow_pickle=False"), ("truncated.npy", "truncated: its header declares [1, 1000] float32")]:
        line = one_line_exit_2(capsys, "run", MLP, "--input", f"x={at(name)}")
        assert line.startswith(f"dslc: cannot read '{at(name)}' as a .npy array: ") and why in line


# ---- atomic writes ----
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"good")

    def half_then_fail(tmp):
        Path(tmp).write_bytes(b"par")
        raise OSError(28, "No space left on device")
    with pytest.raises(Usage, match="cannot write .*: No space left on device"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["m.onnx"]
    with pytest.raises(ZeroDivisionError):                # any exception, not only OSError
        atomic_write(target, lambda tmp: 1 / 0)
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["m.onnx"]
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"new"))
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["m.onnx"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask      # not mkstemp's 0600


def test_output_into_a_missing_folder_creates_it(capsys, tmp_path):
    out = tmp_path / "new" / "deeper" / "mlp.onnx"
    code, stdout, _ = run(capsys, "compile", MLP, "--target", "onnx", "-o", str(out))
    assert code == 0 and stdout.startswith(f"wrote {out} ") and os.listdir(out.parent) == ["mlp.onnx"]


_SLOW_COMPILE = """
import sys, time
from dslc.backends.onnx.builder import Builder
from dslc.cli import main
first = Builder._write_inline
def slow(self, array, name):                 # the first weight written, then a long pause
    first(self, array, name)
    self.stream.flush()
    print("writing", flush=True)
    time.sleep(60)
Builder._write_inline = slow
sys.exit(main(["compile", sys.argv[1], "--target", "onnx", "-o", sys.argv[2]]))
"""

_SLOW_WRITE = """
import sys, time
from pathlib import Path
from dslc.cli.common import atomic_write
def slow(tmp):
    Path(tmp).write_bytes(b"partial")
    print("writing", flush=True)
    time.sleep(60)
atomic_write(Path(sys.argv[1]), slow)
"""


def _killed_mid_write(script: str, argv: list[str], sig: int) -> tuple[int, str]:
    """(exit code, stderr) of `script` sent `sig` while it writes."""
    p = subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "writing\n"
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
    finally:
        p.kill()
    return p.returncode, err


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_compile_killed_mid_write_leaves_the_old_file_only(tmp_path, sig, code):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"good")
    assert _killed_mid_write(_SLOW_COMPILE, [MLP, str(target)], sig) == (code, "")
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["m.onnx"]


def test_sighup_mid_write_removes_the_temporary_file(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"good")
    assert _killed_mid_write(_SLOW_WRITE, [str(target)], signal.SIGHUP) == (128 + signal.SIGHUP, "")
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["m.onnx"]


def test_a_sigkilled_writes_temporary_file_is_swept_by_the_next_write(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"good")
    assert _killed_mid_write(_SLOW_WRITE, [str(target)], signal.SIGKILL)[0] == -signal.SIGKILL
    (left,) = [n for n in os.listdir(tmp_path) if n != "m.onnx"]
    assert left.startswith(".m.onnx.") and left.endswith(".tmp") and target.read_bytes() == b"good"
    live = tmp_path / f".m.onnx.{os.getpid()}.abc.tmp"      # a write in progress: left alone
    live.write_bytes(b"")
    atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"new"))
    assert sorted(os.listdir(tmp_path)) == sorted(["m.onnx", live.name]) and target.read_bytes() == b"new"
