"""`dslc run --print / --save / --weights`: outputs shown and saved, trained weights given on
the command line. The oracle is the XOR network of course text 004 (Goodfellow et al. 6.1):
relu(x W + c) w with W = [[1, 1], [1, 1]], c = [0, -1], w = [1, -2] computes x1 XOR x2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "specs" / "seeds" / "xor.dl"
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)


def test_print_and_save_the_outputs(capsys, tmp_path):
    np.save(tmp_path / "x.npy", X)
    code, out, _ = run(capsys, "run", XOR, "--input", f"x={tmp_path / 'x.npy'}", "--print",
                       "--save", tmp_path / "out.npz", "--repeat", "1")
    assert code == 0
    saved = np.load(tmp_path / "out.npz")
    assert sorted(saved.files) == ["input.x", "y"]
    np.testing.assert_array_equal(saved["y"][:, 0], [0, 1, 1, 0])        # XOR
    np.testing.assert_array_equal(saved["input.x"], X)
    printed = out.split("output y: float32[4, 1]\n")[1].split("latency")[0]
    assert [float(v) for v in printed.replace("[", " ").replace("]", " ").split()] == [0, 1, 1, 0]


def test_weights_on_the_command_line(capsys, tmp_path):
    np.save(tmp_path / "x.npy", X)
    w = {"dense_1.weight": np.array([[1, 1], [1, 1]], np.float32),   # [out, in], as torch's
         "dense_1.bias": np.array([0, -1], np.float32),
         "dense_2.weight": np.array([[2, -4]], np.float32),          # twice the text's w
         "dense_2.bias": np.array([0.5], np.float32)}
    np.savez(tmp_path / "w.npz", **w)
    code, _, err = run(capsys, "run", XOR, "--weights", tmp_path / "w.npz", "--input",
                       f"x={tmp_path / 'x.npy'}", "--save", tmp_path / "o.npz", "--repeat", "1")
    assert code == 0, err
    want = np.maximum(X @ w["dense_1.weight"].T + w["dense_1.bias"], 0) @ w["dense_2.weight"].T \
        + w["dense_2.bias"]
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["y"], want)
    del w["dense_2.bias"]
    np.savez(tmp_path / "bad.npz", **w, extra=np.zeros(3, np.float32))
    code, _, err = run(capsys, "run", XOR, "--weights", tmp_path / "bad.npz")
    assert code == 1 and "1 missing: dense_2.bias" in err and "1 extra: extra" in err


@pytest.mark.parametrize("argv,fragment", [
    (["--save", "out.txt"], "--save writes an .npz file"),
])
def test_save_usage(capsys, argv, fragment):
    code, _, err = run(capsys, "run", XOR, *argv)
    assert code == 2 and fragment in err


def test_weights_need_a_spec(capsys, tmp_path):
    code, out, _ = run(capsys, "compile", XOR, "--target", "onnx", "-o", tmp_path / "x.onnx")
    assert code == 0
    code, _, err = run(capsys, "run", tmp_path / "x.onnx", "--weights", tmp_path / "w.npz")
    assert code == 2 and "an .onnx file holds its own weights" in err
