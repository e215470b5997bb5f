"""Issue 23, the command line: what the hostile review found in dslc's handling of files given on
the command line. Each answers in one line with exit 1/2: never a traceback or a vague reason."""
from __future__ import annotations

import pytest

from support import cli

SPEC = "model M {\n    input x: f32[N, 8]\n    output y = x -> dense(4)\n}\n"


@pytest.mark.parametrize("text", [b"hello\n", b"{\"not\": \"torch\"}", b"\x00\x01binary"], ids=repr)
def test_weights_that_are_no_torch_file_say_so(tmp_path, capsys, text):
    # "cannot read 't.pt' as a torch state_dict: 101" was torch's KeyError on the first byte
    pytest.importorskip("torch")
    (tmp_path / "m.dl").write_text(SPEC)
    (tmp_path / "t.pt").write_bytes(text)
    code, out, err = cli(capsys, "compile", tmp_path / "m.dl", "--target", "onnx",
                         "-o", tmp_path / "m.onnx", "--weights", tmp_path / "t.pt")
    assert code == 2 and out == "" and not (tmp_path / "m.onnx").exists()
    assert err.count("\n") == 1 and "not a torch file" in err, err


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy pickle"])
def test_both_torch_save_formats_still_read(tmp_path, capsys, zipped):
    torch = pytest.importorskip("torch")
    (tmp_path / "m.dl").write_text(SPEC)
    w = torch.arange(32, dtype=torch.float32).reshape(4, 8)
    torch.save({"dense_1.weight": w, "dense_1.bias": torch.ones(4)}, tmp_path / "w.pt",
               _use_new_zipfile_serialization=zipped)
    code, out, err = cli(capsys, "compile", tmp_path / "m.dl", "--target", "onnx",
                         "-o", tmp_path / "m.onnx", "--weights", tmp_path / "w.pt")
    assert code == 0, err
    import onnx
    from onnx import numpy_helper
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(tmp_path / "m.onnx").graph.initializer}
    assert (inits["dense_1.weight"] == w.numpy()).all()
