"""`import "file.dl"`: blocks from other spec files, located errors, cycles."""
from __future__ import annotations

from pathlib import Path

import dslc
from dslc.diagnostics import render


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_blocks_come_from_imported_files_relative_to_the_importer(tmp_path):
    _write(tmp_path, "lib/a.dl", 'import "b.dl"\nblock A(x: [N, F]) { return x -> B -> relu }\n')
    _write(tmp_path, "lib/b.dl", 'block B(x: [N, F]) { return x -> dense(3) }\n'
                                 'model Ignored { input x: f32[N, 2]\n output y = x }\n')
    spec = _write(tmp_path, "net.dl", 'import "lib/a.dl"\nmodel M { input x: f32[N, 4]\n output y = x -> A }\n')
    p = dslc.load(spec)
    assert list(p.models) == ["M"] and p.models["M"].params == 15


def test_errors_inside_an_imported_file_point_there(tmp_path):
    _write(tmp_path, "lib.dl", "block Bad(x: [N, F]) { return x -> conv2d(3, 3) }\n")
    spec = _write(tmp_path, "net.dl", 'import "lib.dl"\nmodel M { input x: f32[N, 4]\n output y = x -> Bad }\n')
    p = dslc.check_text(spec.read_text(), str(spec))
    (d,) = p.errors
    assert d.code == "E301" and d.span.file.endswith("lib.dl") and d.notes[-1][0].file == str(spec)
    assert "conv2d(3, 3)" in render(d, p.sources)


def test_missing_import_and_duplicate_blocks(tmp_path):
    _write(tmp_path, "lib.dl", "block A(x: [N, F]) { return x }\n")
    spec = _write(tmp_path, "net.dl", 'import "lib.dl"\nimport "gone.dl"\n'
                                      'block A(x: [N, F]) { return x }\n'
                                      'model M { input x: f32[N, 4]\n output y = x -> A }\n')
    p = dslc.check_text(spec.read_text(), str(spec))
    codes = sorted(d.code for d in p.errors)
    assert codes == ["E100", "E206"]
    missing = [d for d in p.errors if d.code == "E100"][0]
    assert missing.span.line == 2 and "gone.dl" in missing.message


def test_a_library_of_blocks_checks_on_its_own():
    p = dslc.load("specs/lib/resnet_blocks.dl")
    assert p.models == {} and p.blocks == ("ResidualStem", "BasicUnit", "ResNet18Backbone") and not p.diagnostics


# ---- cycles: a located E104 with the chain ----
def test_a_cycle_is_reported_at_the_import_that_closes_it(tmp_path):
    _write(tmp_path, "lib/a.dl", 'import "b.dl"\nblock A(x: [N, F]) { return x -> B }\n')
    _write(tmp_path, "lib/b.dl", '# B needs nothing from A\n  import "a.dl"\n'
                                 'block B(x: [N, F]) { return x -> dense(3) }\n')
    spec = _write(tmp_path, "net.dl", 'import "lib/a.dl"\nmodel M { input x: f32[N, 4]\n output y = x -> A }\n')
    p = dslc.check_text(spec.read_text(), str(spec))
    (d,) = p.errors
    assert d.code == "E104" and d.message == "import cycle: lib/a.dl -> lib/b.dl -> lib/a.dl"
    assert (Path(d.span.file).name, d.span.line, d.span.col) == ("b.dl", 2, 3)
    (note,) = d.notes
    assert note[1] == "lib/a.dl imports lib/b.dl here"
    assert (Path(note[0].file).name, note[0].line, note[0].col) == ("a.dl", 1, 1)
    assert p.models["M"].params == 15          # both files' blocks are still there


def test_a_self_import_is_a_cycle_of_one(tmp_path):
    spec = _write(tmp_path, "net.dl", 'import "net.dl"\nmodel M { input x: f32[N, 4]\n output y = x }\n')
    (d,) = dslc.check_text(spec.read_text(), str(spec)).errors
    assert d.code == "E104" and d.message == "import cycle: net.dl -> net.dl" and d.span.line == 1


def test_a_diamond_is_not_a_cycle_and_reads_the_shared_file_once(tmp_path):
    _write(tmp_path, "base.dl", "block Base(x: [N, F]) { return x -> relu }\n")
    _write(tmp_path, "left.dl", 'import "base.dl"\nblock L(x: [N, F]) { return x -> Base -> dense(2) }\n')
    _write(tmp_path, "right.dl", 'import "./base.dl"\nblock R(x: [N, F]) { return x -> Base }\n')
    spec = _write(tmp_path, "net.dl", 'import "left.dl"\nimport "right.dl"\n'
                                      'model M { input x: f32[N, 4]\n output y = x -> L -> R }\n')
    p = dslc.check_text(spec.read_text(), str(spec))
    assert not p.diagnostics and p.models["M"].params == 10     # no E206 for Base


# ---- what an import may name ----
def test_an_import_reads_only_relative_dl_files(tmp_path):
    secret = _write(tmp_path, "secret.txt", "model S { the secret }\n")
    (tmp_path / "link.dl").symlink_to(secret)
    spec = _write(tmp_path, "net.dl", f'import "{secret}"\nimport "secret.txt"\nimport "link.dl"\n'
                                      'model M { input x: f32[N, 4]\n output y = x }\n')
    p = dslc.check_text(spec.read_text(), str(spec))
    assert [(d.code, d.span.line) for d in p.errors] == [("E105", 1), ("E105", 2), ("E105", 3)]
    assert "absolute" in p.errors[0].message and "link" in p.errors[2].message
    assert "the secret" not in "".join(p.sources.texts.values())      # never read


def test_dot_dot_is_allowed_and_resolves_against_the_importer(tmp_path, monkeypatch):
    _write(tmp_path, "lib/blocks.dl", "block B(x: [N, F]) { return x -> dense(2) }\n")
    spec = _write(tmp_path, "models/net.dl", 'import "../lib/blocks.dl"\n'
                                             'model M { input x: f32[N, 4]\n output y = x -> B }\n')
    monkeypatch.chdir(spec.parent.parent / "lib")       # the working directory plays no part
    assert dslc.load(spec).models["M"].params == 10
    monkeypatch.chdir(tmp_path)                         # spec text without a file: the cwd
    text = 'import "lib/blocks.dl"\nmodel M { input x: f32[N, 4]\n output y = x -> B }\n'
    assert dslc.load(text).models["M"].params == 10


# ---- imported files: the same reader as the command line ----
def test_an_imported_file_with_a_bom_and_crlf_parses_as_the_plain_one(tmp_path):
    lib = "block Bad(x: [N, F]) {\n    return x -> conv2d(3, 3)\n}\n"
    variants = {"plain": lib.encode(), "crlf": lib.replace("\n", "\r\n").encode(),
                "bom": b"\xef\xbb\xbf" + lib.encode(), "cr": lib.replace("\n", "\r").encode()}
    where = set()
    for name, data in variants.items():
        (tmp_path / f"{name}.dl").write_bytes(data)
        spec = _write(tmp_path, f"net_{name}.dl", f'import "{name}.dl"\n'
                                                  'model M { input x: f32[N, 4]\n output y = x -> Bad }\n')
        p = dslc.check_text(spec.read_text(), str(spec))
        (d,) = p.errors
        assert d.code == "E301" and render(d, p.sources).splitlines()[2] == "2 |     return x -> conv2d(3, 3)"
        where.add((d.span.line, d.span.col, d.span.end_col))
    assert where == {(2, 17, 29)}


def test_unusable_imported_files_are_located_e100(tmp_path):
    (tmp_path / "binary.dl").write_bytes(b"block\x00B")
    (tmp_path / "latin1.dl").write_bytes(b"# caf\xe9\n")
    (tmp_path / "empty.dl").write_text(" \n\n")
    (tmp_path / "folder.dl").mkdir()
    names = ["binary", "latin1", "empty", "folder", "gone"]
    spec = _write(tmp_path, "net.dl", "".join(f'import "{n}.dl"\n' for n in names)
                  + "model M { input x: f32[N, 4]\n output y = x }\n")
    p = dslc.check_text(spec.read_text(), str(spec))
    assert [(d.code, d.span.line) for d in p.errors] == [("E100", i + 1) for i in range(5)]
    reasons = [d.message.split(": ", 1)[1] for d in p.errors]
    assert reasons == ["a binary file, not spec text (a NUL byte at byte 5)",
                       "not UTF-8 text (invalid continuation byte at byte 5)", "the file is empty",
                       "Is a directory", "No such file or directory"]
