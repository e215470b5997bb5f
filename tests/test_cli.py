"""The command line: every command, its exit codes, its outputs, and bad input handled."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "specs" / "seeds" / "mlp.dl")
TOPO = str(ROOT / "specs" / "seeds" / "topologies.dl")
BAD = str(ROOT / "specs" / "invalid" / "residual_mismatch.dl")


def test_check_prints_counts(capsys):
    code, out, _ = run(capsys, "check", MLP)
    assert code == 0 and out.strip() == "DeepMLP: 336,581 parameters; y: f32[N, 1]"


def test_check_json_contract(capsys):
    code, out, _ = run(capsys, "check", TOPO, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["diagnostics"] == []
    m = {m["name"]: m for m in doc["models"]}["AdaptivePool"]
    assert set(m) == {"file", "name", "params", "trainable_params", "buffers", "inputs", "outputs",
                      "layers"}
    assert m["file"] == TOPO
    assert m["inputs"] == {"image": {"dtype": "f32", "shape": ["N", 3, "H", "W"]}}
    assert m["outputs"]["probs"] == {"dtype": "f32", "shape": ["N", 1000]}
    layer = m["layers"][0]
    assert set(layer) == {"name", "op", "shape", "params", "line"}
    assert layer["params"] == 1792 and layer["shape"] == ["N", 64, "H", "W"]


def test_check_json_reports_diagnostics(capsys):
    code, out, _ = run(capsys, "check", BAD, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["models"] == []
    (d,) = doc["diagnostics"]
    assert {k: d[k] for k in ("severity", "code", "file", "line", "col")} == \
        {"severity": "error", "code": "E302", "file": BAD, "line": 5, "col": 16}
    # the fields of the full render: the span's end, expected and got, the notes, help
    assert d["end_line"] == 5 and d["end_col"] > d["col"]
    assert d["expected"] and d["got"] and d["expected"] != d["got"]
    assert d["notes"] and all({"message", "file", "line", "col"} <= set(n) for n in d["notes"])
    assert "help" in d


def test_check_errors_go_to_stderr_with_caret(capsys):
    code, out, err = run(capsys, "check", BAD)
    assert code == 1 and out == ""
    assert f"{BAD}:5:16: error[E302]" in err and "^^^^^" in err and "note:" in err


def test_missing_file_is_exit_2_with_one_line(capsys):
    code, _, err = run(capsys, "check", "no/such.dl")
    assert code == 2 and err.strip() == "dslc: cannot read 'no/such.dl': No such file or directory"


def test_summary_table(capsys):
    code, out, _ = run(capsys, "summary", str(ROOT / "specs" / "seeds" / "lenet.dl"))
    assert code == 0
    assert "conv2d(6, 5, padding=2)" in out and "61,706 parameters" in out and "MACs" in out


def test_compile_onnx_and_run(capsys, tmp_path):
    out_file = tmp_path / "mlp.onnx"
    code, out, _ = run(capsys, "compile", MLP, "--target", "onnx", "-o", str(out_file))
    assert code == 0 and out_file.exists()
    code, out, _ = run(capsys, "run", str(out_file), "--dim", "N=4", "--repeat", "2")
    assert code == 0 and "output y: float32[4, 1]" in out and "latency" in out


def test_compile_torch_module_loads(capsys, tmp_path):
    import torch
    out_file = tmp_path / "m.pt"
    code, _, _ = run(capsys, "compile", MLP, "--target", "torch", "-o", str(out_file))
    module = torch.load(out_file, weights_only=False)
    assert code == 0 and module(torch.zeros(3, 1000)).shape == (3, 1)


def test_several_models_need_a_choice(capsys, tmp_path):
    code, _, err = run(capsys, "compile", TOPO, "--target", "onnx", "-o", str(tmp_path / "x.onnx"))
    assert code == 2 and "--model" in err and "AdaptivePool" in err
    assert not list(tmp_path.iterdir())
    code, _, err = run(capsys, "compile", TOPO, "--target", "onnx", "--model", "Nope")
    assert code == 2 and "no model `Nope`" in err


def test_failed_compile_leaves_no_file(capsys, tmp_path):
    spec = tmp_path / "bn.dl"
    spec.write_text("model M {\n input x: f32[N, 8]\n a = x -> layernorm(name=norm)\n"
                    " output y = a -> layernorm(tie=norm)\n}\n")
    out_file = tmp_path / "bn.py"      # torch-src writes no tied layernorm
    code, _, err = run(capsys, "compile", str(spec), "--target", "torch-src", "-o", str(out_file))
    assert code == 1 and "E401" in err and ":4:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.dl"]


def test_run_spec_with_symbolic_dims(capsys):
    code, out, _ = run(capsys, "run", TOPO, "--model", "AdaptivePool", "--dim", "H=40",
                       "--dim", "W=56", "--repeat", "1")
    assert code == 0 and "output probs: float32[1, 1000]" in out
    code, _, err = run(capsys, "run", TOPO, "--model", "AdaptivePool")
    assert code == 2 and "H, W" in err


def test_run_with_given_input(capsys, tmp_path):
    import numpy as np
    x = tmp_path / "x.npy"
    np.save(x, np.array([[0.1, 1, 0.2, 0.1, 0, 0.1]], dtype=np.float32)[None])
    code, out, _ = run(capsys, "run", str(ROOT / "specs" / "seeds" / "maxpool_ceil.dl"),
                       "--input", f"signal={x}", "--repeat", "1")
    assert code == 0 and "output y: float32[1, 1, 3]" in out


def test_cuda_absent_is_a_clear_exit_2(capsys):
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    code, _, err = run(capsys, "run", MLP, "--provider", "cuda")
    assert code == 2 and "CUDA execution provider is not available" in err


def _proc(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "dslc", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_syntax_error_has_no_traceback():
    p = _proc("check", "specs/invalid/syntax_unexpected_token.dl")
    assert p.returncode == 1 and "Traceback" not in p.stderr and "error[E101]" in p.stderr


def test_usage_error_is_exit_2():
    assert _proc("compile", MLP).returncode == 2     # --target is required


@pytest.mark.parametrize("argv", [["check", TOPO], ["check", TOPO, "--json"],
                                  ["summary", TOPO, "--model", "AdaptivePool"]])
def test_check_and_summary_do_not_import_torch_or_onnx(argv):
    code = ("import sys; from dslc.cli import main; rc = main(%r); "
            "bad = [m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules]; "
            "print(rc, bad)" % argv)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip().endswith("0 []"), p.stdout + p.stderr


def test_summary_macs_are_per_example(capsys):
    code, out, _ = run(capsys, "summary", MLP)
    assert code == 0 and "336,105 MACs per example" in out and "300,000" in out


def test_check_json_also_renders_diagnostics_on_stderr(capsys):
    code, out, err = run(capsys, "check", BAD, "--json")
    assert code == 1 and json.loads(out)["diagnostics"] and "^^^^^" in err


def test_unreadable_inputs_are_one_line_exit_2(capsys, tmp_path):
    (tmp_path / "dir.onnx").mkdir()
    (tmp_path / "latin1.dl").write_bytes(b"# caf\xe9\nmodel M { input x: f32[N, 2] output y = x }\n")
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf")
    for argv, msg in [(("run", str(tmp_path / "dir.onnx")), "Is a directory"),
                      (("run", str(tmp_path / "missing.onnx")), "No such file or directory"),
                      (("check", str(tmp_path)), "Is a directory"),
                      (("summary", str(tmp_path / "latin1.dl")), "not UTF-8"),
                      (("run", str(tmp_path / "junk.onnx")), "onnxruntime:"),
                      (("run", MLP, "--input", f"x={tmp_path / 'no.npy'}"), "No such file")]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_compile_to_an_unwritable_place_is_exit_2(capsys, tmp_path):
    (tmp_path / "taken").mkdir()
    code, _, err = run(capsys, "compile", MLP, "--target", "onnx", "-o", str(tmp_path / "taken"))
    assert code == 2 and "cannot write" in err and "Is a directory" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run(capsys, "compile", MLP, "--target", "onnx", "-o", str(blocker / "x.onnx"))
    assert code == 2 and "cannot write" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]
    assert not list((tmp_path / "taken").iterdir())


def test_compile_default_output_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "compile", MLP, "--target", "onnx")[0] == 0
    assert run(capsys, "compile", TOPO, "--target", "onnx", "--model", "AdaptivePool")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "topologies.AdaptivePool.onnx"]
    import onnx
    graph = onnx.load(str(tmp_path / "mlp.onnx")).graph
    assert [i.name for i in graph.input] == ["x"] and [o.name for o in graph.output] == ["y"]


def test_run_argument_checks(capsys, tmp_path):
    code, _, err = run(capsys, "run", MLP, "--repeat", "0")
    assert code == 2 and "--repeat" in err
    code, _, err = run(capsys, "run", MLP, "--dim", "Q=3")
    assert code == 2 and "Q" in err and "(N)" in err
    code, _, err = run(capsys, "run", MLP, "--dim", "N=zero")
    assert code == 2 and "NAME=SIZE" in err
    code, _, err = run(capsys, "run", MLP, "--input", "nope=x.npy")
    assert code == 2 and "unknown input `nope`" in err


def test_run_casts_float64_input_files(capsys, tmp_path):
    import numpy as np
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((5, 1000)))            # float64, as np.save of Python floats gives
    code, out, _ = run(capsys, "run", MLP, "--input", f"x={x}", "--repeat", "1")
    assert code == 0 and "input  x: float32[5, 1000]" in out and "output y: float32[5, 1]" in out


def test_runner_from_python():
    import numpy as np
    import dslc
    from dslc.backends.onnx.ort import run as ort_run
    model = dslc.load(MLP).models["DeepMLP"]
    outputs, ms = ort_run(model.to_onnx(seed=0), dims={"N": 3})
    assert outputs["y"].shape == (3, 1) and ms > 0
    x = np.ones((2, 1000), np.float32)
    outputs, _ = ort_run(model.to_onnx(seed=0), feeds={"x": x})
    import torch
    with torch.no_grad():
        expect = model.to_torch(seed=0)(torch.from_numpy(x)).numpy()
    assert np.abs(outputs["y"] - expect).max() < 1e-4


@pytest.mark.parametrize("module, argv", [
    ("torch", ["compile", MLP, "--target", "torch", "-o", "never.pt"]),
    ("onnx", ["compile", MLP, "--target", "onnx", "-o", "never.onnx"]),
    ("onnxruntime", ["run", MLP]),
])
def test_missing_extra_is_one_line_exit_2(module, argv, tmp_path):
    code = (f"import sys; sys.modules[{module!r}] = None; from dslc.cli import main; "
            f"sys.exit(main({argv!r}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == p.stderr.strip().splitlines()[0] and f"needs {module}" in p.stderr
    assert not list(tmp_path.iterdir())


def test_python_dash_m_without_a_command_is_usage():
    p = _proc()
    assert p.returncode == 2 and "usage: dslc" in p.stderr and "Traceback" not in p.stderr


def test_unknown_model_has_no_traceback():
    p = _proc("summary", MLP, "--model", "Nope")
    assert p.returncode == 2 and p.stderr.strip() == "dslc: no model `Nope` in the spec (it has DeepMLP)"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = "pip install torch==2.13.0 && pip install -e '.[test]' && python -m pytest -q"
    assert command in readme and command in (ROOT / ".ci" / "run").read_text()


# ---- --dtype ----
def _at(path: str, fragment: str) -> str:
    """`path:line:col` of the first occurrence of `fragment` in the file (1-based)."""
    text = Path(path).read_text()
    at = text.index(fragment)
    return f"{path}:{text.count(chr(10), 0, at) + 1}:{at - text.rfind(chr(10), 0, at)}"


def test_compile_dtype_f16_onnx_and_run(capsys, tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort
    half, full = tmp_path / "mlp16.onnx", tmp_path / "mlp32.onnx"
    code, out, _ = run(capsys, "compile", MLP, "--target", "onnx", "--dtype", "f16", "-o", str(half))
    assert code == 0 and "f16" in out
    assert run(capsys, "compile", MLP, "--target", "onnx", "-o", str(full))[0] == 0
    graph = onnx.load(str(half)).graph
    assert [i.type.tensor_type.elem_type for i in graph.input] == [onnx.TensorProto.FLOAT16]
    assert [o.type.tensor_type.elem_type for o in graph.output] == [onnx.TensorProto.FLOAT16]
    assert {t.data_type for t in graph.initializer if t.name.endswith((".weight", ".bias"))} == \
        {onnx.TensorProto.FLOAT16}
    code, out, _ = run(capsys, "run", str(half), "--dim", "N=2", "--repeat", "1")
    assert code == 0 and "input  x: float16[2, 1000]" in out and "output y: float16[2, 1]" in out
    x = np.random.default_rng(0).standard_normal((4, 1000)).astype(np.float16)
    y16 = ort.InferenceSession(str(half)).run(None, {"x": x})[0]
    y32 = ort.InferenceSession(str(full)).run(None, {"x": x.astype(np.float32)})[0]
    assert y16.dtype == np.float16
    assert np.abs(y16 - y32).max() <= 1e-2 * max(1.0, np.abs(y32).max())


def test_compile_dtype_torch(capsys, tmp_path):
    import torch
    out_file = tmp_path / "m.pt"
    code, _, _ = run(capsys, "compile", MLP, "--target", "torch", "--dtype", "f64", "-o", str(out_file))
    module = torch.load(out_file, weights_only=False)
    assert code == 0 and {p.dtype for p in module.parameters()} == {torch.float64}
    assert module(torch.zeros(3, 1000, dtype=torch.float64)).dtype == torch.float64


def test_run_dtype_bf16_is_one_located_line(capsys):
    code, out, err = run(capsys, "run", MLP, "--dtype", "bf16")
    assert code == 2 and out == ""
    assert err == ("dslc run: onnxruntime's CPU provider has no bf16 kernel for Gemm "
                   f"(layer dense_1 at {_at(MLP, 'dense(300)')})\n")
    p = _proc("run", "specs/seeds/mlp.dl", "--dtype", "bf16")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [
        "dslc run: onnxruntime's CPU provider has no bf16 kernel for Gemm "
        f"(layer dense_1 at {_at('specs/seeds/mlp.dl', 'dense(300)')})"]


def test_run_dtype_f64_kernel_missing_at_run_time_is_one_line(tmp_path):
    spec = tmp_path / "lstm.dl"
    spec.write_text("model L {\n    input x: f32[N, T, 3]\n    output y = x -> lstm(4)\n}\n")
    p = _proc("run", str(spec), "--dtype", "f64", "--dim", "T=5")
    if p.returncode == 0:
        pytest.skip("this onnxruntime runs f64 LSTMs")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"dslc run: onnxruntime's CPU provider has no f64 kernel for LSTM (layer lstm_1 at "
        f"{_at(str(spec), 'lstm(4)')})"]


def test_run_dtype_f16_with_integer_ids(capsys, tmp_path):
    import numpy as np
    import torch
    spec = tmp_path / "emb.dl"
    spec.write_text("model Tagger {\n    input ids: i64[N, T]\n"
                    "    output y = ids -> embedding(20, 8) -> gru(6) -> layernorm -> dense(3)\n}\n")
    code, out, _ = run(capsys, "run", str(spec), "--dtype", "f16", "--dim", "T=4", "--repeat", "1")
    assert code == 0 and "input  ids: int64[1, 4]" in out and "output y: float16[1, 4, 3]" in out
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([[0, 5, 19, 3]], dtype=np.int64))
    code, out, _ = run(capsys, "run", str(spec), "--dtype", "f16", "--input", f"ids={ids}",
                       "--repeat", "1")
    assert code == 0 and "output y: float16[1, 4, 3]" in out
    pt = tmp_path / "emb.pt"
    assert run(capsys, "compile", str(spec), "--target", "torch", "--dtype", "f16", "-o", str(pt))[0] == 0
    module = torch.load(pt, weights_only=False)
    assert module.embedding_1.weight.dtype == torch.float16
    assert module.gru_1.weight_ih_l0.dtype == torch.float32      # computed in f32
    y = module(torch.tensor([[0, 5, 19, 3]]))
    assert y.dtype == torch.float16 and y.shape == (1, 4, 3)


def test_dtype_arguments(capsys, tmp_path):
    out_file = tmp_path / "mlp.onnx"
    assert run(capsys, "compile", MLP, "--target", "onnx", "-o", str(out_file))[0] == 0
    code, _, err = run(capsys, "run", str(out_file), "--dtype", "f16")
    assert code == 2 and "--dtype" in err and len(err.strip().splitlines()) == 1
    p = _proc("compile", MLP, "--target", "onnx", "--dtype", "i64")
    assert p.returncode == 2 and "invalid choice" in p.stderr


# ---- every spec renders ----
def _every_spec():
    from specfiles import valid_specs
    return [p for p in valid_specs()]


@pytest.mark.parametrize("path", _every_spec(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_summary_compact_and_json_render_every_spec(path):
    """The table, the compact notation and the JSON document for every op the specs use: one
    row per layer with its shape and parameters, the JSON's counts equal to the IR's."""
    import dslc
    from dslc.tools.summary import check_json, compact, layer_rows, table
    program = dslc.load(path)
    doc = json.loads(json.dumps(check_json(program)))
    for model, entry in zip(program.models.values(), doc["models"]):
        rows = layer_rows(model)
        assert len(rows) >= len(model.nodes)
        assert f"{model.params:,}" in table(model) and entry["params"] == model.params
        assert len(compact(model).splitlines()) == len(model.nodes)
        assert sum(layer["params"] for layer in entry["layers"]) == model.params
