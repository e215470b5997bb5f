"""`import "file.dl"`: blocks from other spec files, located errors, cycles."""
from __future__ import annotations

import dslc
from dslc.diagnostics import render


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_blocks_come_from_imported_files_relative_to_the_importer(tmp_path):
    _write(tmp_path, "lib/a.dl", 'import "b.dl"\nblock A(x: [N, F]) { return x -> B -> relu }\n')
    _write(tmp_path, "lib/b.dl", 'import "a.dl"\nblock B(x: [N, F]) { return x -> dense(3) }\n'
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
