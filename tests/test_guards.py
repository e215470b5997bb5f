"""Guards at the model's boundaries (issue #11, items 3 and 4): weights too large to build,
weights that do not fit the spec, inputs that do not fit it (dslc run, the torch module, the
ONNX graph's opt-in checks). Every expected number is worked out here from the spec's text,
never read back from dslc."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dslc
from dslc.cli import main

ROOT = Path(__file__).resolve().parent.parent

HUGE = "model Huge {\n    input x: f32[N, 1000000000]\n    output y = x -> dense(1000000000)\n}\n"
MID = "model Mid {\n    input x: f32[N, 1000]\n    output y = x -> dense(1000)\n}\n"
WIDE = "model Wide {\n    input x: f32[N, 4]\n    output y = x -> dense(100)\n}\n"
# tokens and lengths share the batch N; T and H carry `where` constraints
SEQ = """model Seq {
    input tokens: i64[N, T] where T <= 255
    input lengths: i64[N]
    input image: f32[N, 3, H, H] where H % 8 == 0
    output y = tokens -> embedding(10, 4) -> dense(2)
    output z = image -> conv2d(2, 3, padding=1)
    output l = lengths -> cast(f32)
}
"""
# a dense on the last axis of x, whose sizes are checked: y = x @ W.T + b
SMALL = """model Small {
    input x: f32[N, H, 4] where H % 8 == 0, H <= 64
    input mask: f32[N, H]
    output y = x -> dense(3)
    output m = mask -> relu
}
"""


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def spec_file(tmp_path, text, name="m.dl") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- 3. compile-time memory guards ----------------------------------------------------------

def test_huge_dense_is_checked_but_refused_by_compile_with_its_size(capsys, tmp_path):
    spec = spec_file(tmp_path, HUGE)
    code, out, _ = cli(capsys, "check", spec)
    assert code == 0
    elements = 10 ** 9 * 10 ** 9                    # dense_1.weight [1e9, 1e9]
    eib = f"{elements * 4 / 2 ** 60:.3g} EiB"      # f32: 4 bytes each
    for target in ("torch", "torch-state", "onnx"):
        out_file = tmp_path / f"huge.{target}"
        code, out, err = cli(capsys, "compile", spec, "--target", target, "-o", out_file)
        line = one_line(err)
        assert code == 1 and out == "", err
        assert line.startswith("dslc compile: ") and "dense_1.weight" in line and eib in line
        assert not out_file.exists()
    # the torch build names the per-tensor limit with the element count
    code, _, err = cli(capsys, "compile", spec, "--target", "torch", "-o", tmp_path / "h.pt")
    assert f"{elements:,} elements" in err and "2**40" in err
    # dslc run builds the same graph: refused the same way
    code, out, err = cli(capsys, "run", spec)
    assert code == 1 and out == "" and eib in one_line(err)


def test_huge_dense_compile_has_no_traceback(tmp_path):
    spec = spec_file(tmp_path, HUGE)
    p = subprocess.run([sys.executable, "-m", "dslc", "compile", str(spec), "--target", "torch",
                        "-o", str(tmp_path / "h.pt")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "MemoryError" not in p.stderr
    assert "dense_1.weight" in one_line(p.stderr)


def _no_draws(monkeypatch):
    """Any weight drawn fails the test: the refusal must come before allocation."""
    import dslc.passes.weights as w

    def drawn(*a, **k):
        raise AssertionError("a weight was drawn before the memory check")
    monkeypatch.setattr(w, "_rng", drawn)


def test_max_memory_flag_refuses_before_allocating(capsys, tmp_path, monkeypatch):
    spec = spec_file(tmp_path, MID)
    weights = 1000 * 1000 + 1000
    out_file = tmp_path / "mid.onnx"
    with monkeypatch.context() as m:
        _no_draws(m)
        for target in ("onnx", "torch"):
            code, out, err = cli(capsys, "compile", spec, "--target", target, "--max-memory", "1M",
                                 "-o", out_file)
            line = one_line(err)
            assert code == 1 and out == ""
            assert f"{weights:,} weights" in line and "over 1 MiB" in line and "--max-memory" in line
            assert "dense_1.weight [1000, 1000]" in line
        code, out, err = cli(capsys, "run", spec, "--max-memory", "1M")
        assert code == 1 and "over 1 MiB" in one_line(err)
    assert not out_file.exists()
    # the ONNX build streams: its peak is dense_1.weight's draw, 12 bytes an element (float64
    # and float32), 12 MB; 4 MB is under it, 1 GiB is plenty
    code, _, err = cli(capsys, "compile", spec, "--target", "onnx", "--max-memory",
                       str(4 * weights - 1), "-o", out_file)
    assert code == 1 and not out_file.exists()
    code, out, _ = cli(capsys, "compile", spec, "--target", "onnx", "--max-memory", "1G",
                       "-o", out_file)
    assert code == 0 and out_file.exists()


def test_default_limit_is_the_available_memory(capsys, tmp_path, monkeypatch):
    import dslc.checks.memory as memory
    spec = spec_file(tmp_path, MID)
    monkeypatch.setattr(memory, "available_memory", lambda: (2 ** 20, "the memory available"))
    _no_draws(monkeypatch)
    code, _, err = cli(capsys, "compile", spec, "--target", "torch", "-o", tmp_path / "m.pt")
    line = one_line(err)
    assert code == 1 and "over 1 MiB (the memory available" in line and "--max-memory" in line
    with pytest.raises(memory.TooLarge):          # the API draws under the same guard
        dslc.load(MID).models["Mid"].weights(0)


def test_api_takes_max_memory_and_checks_the_onnx_limit_before_drawing(monkeypatch):
    import dslc.checks.memory as memory
    model = dslc.load(MID).models["Mid"]
    _no_draws(monkeypatch)
    for build in (model.weights, model.to_torch, model.to_onnx):
        with pytest.raises(memory.TooLarge, match="over 1 MiB"):
            build(max_memory=2 ** 20)
    monkeypatch.setattr(memory, "ONNX_LIMIT", 2 ** 20)     # as if the model were over 2 GiB
    with pytest.raises(memory.TooLarge, match="one ONNX file can hold"):
        model.to_onnx()


def test_parse_size():
    from dslc.checks.memory import parse_size
    assert parse_size("512M") == 512 * 2 ** 20
    assert parse_size("64GiB") == parse_size("64GB") == parse_size("64g") == 64 * 2 ** 30
    assert parse_size("1.5T") == 3 * 2 ** 39
    assert parse_size("1000000") == 1000000 and parse_size("10B") == 10
    for bad in ("0", "-5", "x", "12Q", "", "1.5.2G"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_bad_max_memory_is_a_usage_error(capsys, tmp_path):
    spec = spec_file(tmp_path, MID)
    for cmd in (("compile", spec, "--target", "onnx"), ("run", spec)):
        code, _, err = cli(capsys, *cmd, "--max-memory", "lots")
        assert code == 2 and "--max-memory" in err and "'lots'" in err and "Traceback" not in err


# ---- 4. weights checked against the IR ------------------------------------------------------

def _wide_weights():
    rng = np.random.default_rng(7)
    return {"dense_1.weight": rng.standard_normal((100, 4)).astype(np.float32),
            "dense_1.bias": rng.standard_normal(100).astype(np.float32)}


@pytest.mark.parametrize("backend", ["to_onnx", "to_torch"])
def test_weights_are_checked_by_name_and_shape(backend):
    from dslc.passes.weights import WeightsError
    model = dslc.load(WIDE).models["Wide"]
    build = getattr(model, backend)
    w = _wide_weights()
    bad = {**w, "dense_1.bias": np.zeros(7, np.float32), "dense_9.weight": np.zeros(3, np.float32)}
    with pytest.raises(WeightsError) as e:
        build(weights=bad)
    assert e.value.misshaped == {"dense_1.bias": ((7,), (100,))}
    assert e.value.extra == ["dense_9.weight"] and e.value.missing == []
    assert "dense_1.bias [7] (expected [100])" in str(e.value) and "dense_9.weight" in str(e.value)
    with pytest.raises(WeightsError) as e:
        build(weights={"dense_1.weight": w["dense_1.weight"]})
    assert e.value.missing == ["dense_1.bias"] and "1 missing: dense_1.bias" in str(e.value)
    with pytest.raises(WeightsError) as e:
        build(weights={**w, "dense_1.bias": np.zeros(100, np.int64)})
    assert e.value.not_float == {"dense_1.bias": "int64"}
    with pytest.raises(WeightsError, match="prefix `module.`"):
        build(weights={"module." + k: v for k, v in w.items()})


def test_compile_weights_file(capsys, tmp_path):
    import onnx
    from onnx import numpy_helper
    spec = spec_file(tmp_path, WIDE)
    w = _wide_weights()
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**w, "dense_1.bias": np.zeros(7, np.float32), "extra.w": np.zeros(2)})
    out_file = tmp_path / "w.onnx"
    for target in ("onnx", "torch"):
        code, out, err = cli(capsys, "compile", spec, "--target", target, "--weights", bad,
                             "-o", out_file)
        line = one_line(err)
        assert code == 1 and out == "" and not out_file.exists()
        assert "dense_1.bias [7] (expected [100])" in line and "extra.w" in line
    good = tmp_path / "good.npz"
    np.savez(good, **w)
    code, _, _ = cli(capsys, "compile", spec, "--target", "onnx", "--weights", good, "-o", out_file)
    assert code == 0
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(out_file)).graph.initializer}
    assert any(np.array_equal(v, w["dense_1.bias"]) for v in inits.values())
    # a torch state_dict works too, and its values are the module's
    import torch
    sd = tmp_path / "w.pt"
    torch.save({k: torch.from_numpy(v) for k, v in w.items()}, sd)
    pt = tmp_path / "w_module.pt"
    assert cli(capsys, "compile", spec, "--target", "torch", "--weights", sd, "-o", pt)[0] == 0
    module = torch.load(pt, weights_only=False)
    x = np.ones((2, 4), np.float32)
    with torch.no_grad():
        y = module(torch.from_numpy(x)).numpy()
    assert np.allclose(y, x @ w["dense_1.weight"].T + w["dense_1.bias"], atol=1e-5)
    code, _, err = cli(capsys, "compile", spec, "--target", "onnx", "--weights", tmp_path / "no.npz")
    assert code == 2 and "cannot read" in one_line(err)


# ---- 4. dslc run checks --dim and --input against the spec ----------------------------------

def test_run_refuses_a_dim_breaking_where(capsys, tmp_path):
    spec = spec_file(tmp_path, SEQ)
    code, out, err = cli(capsys, "run", spec, "--dim", "H=30", "--dim", "T=4", "--repeat", 1)
    line = one_line(err)
    assert code == 2 and out == ""
    assert "H = 30" in line and "H % 8 == 0" in line and "--dim" in line
    code, out, err = cli(capsys, "run", spec, "--dim", "H=16", "--dim", "T=256", "--repeat", 1)
    line = one_line(err)
    assert code == 2 and out == "" and "T = 256" in line and "T <= 255" in line
    code, out, _ = cli(capsys, "run", spec, "--dim", "H=16", "--dim", "T=255", "--repeat", 1)
    assert code == 0 and "output z: float32[1, 2, 16, 16]" in out


def test_run_infers_the_batch_from_a_given_input(capsys, tmp_path):
    spec = spec_file(tmp_path, SEQ)
    tokens = tmp_path / "tokens.npy"
    np.save(tokens, np.zeros((2, 5), np.int64))
    code, out, err = cli(capsys, "run", spec, "--input", f"tokens={tokens}", "--dim", "H=8",
                         "--repeat", 1)
    assert code == 0, err
    assert "input  lengths: int64[2]" in out and "input  image: float32[2, 3, 8, 8]" in out
    assert "output y: float32[2, 5, 2]" in out
    # and the batch read from it must agree with --dim
    code, out, err = cli(capsys, "run", spec, "--input", f"tokens={tokens}", "--dim", "H=8",
                         "--dim", "N=3")
    line = one_line(err)
    assert code == 2 and "N is 3 by --dim but 2 by input `tokens` axis 0" in line
    # a T read from the input is checked against `where` too
    np.save(tokens, np.zeros((1, 300), np.int64))
    code, _, err = cli(capsys, "run", spec, "--input", f"tokens={tokens}", "--dim", "H=8")
    assert code == 2 and "T = 300" in one_line(err) and "T <= 255" in err


def test_run_checks_given_arrays(capsys, tmp_path):
    spec = spec_file(tmp_path, SEQ)
    f = tmp_path / "a.npy"
    np.save(f, np.zeros((2, 5), np.float32))              # a float array for i64 tokens
    code, _, err = cli(capsys, "run", spec, "--input", f"tokens={f}", "--dim", "H=8")
    assert code == 2 and "input `tokens` is f32, declared i64" in one_line(err)
    np.save(f, np.zeros((2, 5, 1), np.int64))             # rank 3 for a rank-2 input
    code, _, err = cli(capsys, "run", spec, "--input", f"tokens={f}", "--dim", "H=8")
    assert code == 2 and "rank 3" in one_line(err) and "declared rank 2" in err
    np.save(f, np.zeros((1, 4, 8, 8), np.float32))        # 4 channels where 3 are declared
    code, _, err = cli(capsys, "run", spec, "--input", f"image={f}", "--dim", "T=2")
    assert code == 2 and "size 4 at axis 1, declared 3" in one_line(err)
    np.save(f, np.zeros((1, 3, 8, 16), np.float32))       # [H, H] given as [8, 16]
    code, _, err = cli(capsys, "run", spec, "--input", f"image={f}", "--dim", "T=2")
    assert code == 2 and "H is 8 by input `image` axis 2 but 16 by input `image` axis 3" in err
    code, _, err = cli(capsys, "run", spec, "--dim", "T=2")     # H has no value
    assert code == 2 and "--dim H=8" in one_line(err)
    # the checks kept from before: the form, the names
    code, _, err = cli(capsys, "run", spec, "--input", "tokens")
    assert code == 2 and "NAME=FILE" in err
    code, _, err = cli(capsys, "run", spec, "--dim", "Q=3")
    assert code == 2 and "Q" in err and "(H, N, T)" in err


def test_ort_run_api_infers_the_batch():
    from dslc.backends.onnx.ort import run as ort_run
    from dslc.checks.guards import InputError
    model = dslc.load(SEQ).models["Seq"]
    proto = model.to_onnx(seed=0)
    outputs, _ = ort_run(proto, {"tokens": np.zeros((3, 4), np.int64)}, dims={"H": 8})
    assert outputs["l"].shape == (3,) and outputs["z"].shape == (3, 2, 8, 8)
    with pytest.raises(InputError, match="H = 12"):
        ort_run(proto, dims={"H": 12, "T": 2}, spec=model)


# ---- 4. the torch module checks its inputs --------------------------------------------------

def test_torch_forward_checks_its_inputs():
    import torch
    from dslc.checks.guards import InputError
    model = dslc.load(SMALL).models["Small"]
    module = model.to_torch(seed=0)
    x, mask = torch.ones(2, 8, 4), torch.ones(2, 8)
    y, m = module(x, mask)
    assert y.shape == (2, 8, 3) and m.shape == (2, 8)
    cases = [((torch.ones(2, 12, 4), torch.ones(2, 12)), ["H = 12", "H % 8 == 0"]),
             ((torch.ones(2, 72, 4), torch.ones(2, 72)), ["H = 72", "H <= 64"]),
             ((torch.ones(2, 8, 5), mask), ["input `x` has size 5 at axis 2, declared 4"]),
             ((torch.ones(8, 4), mask), ["input `x` has rank 2", "declared rank 3"]),
             ((x.double(), mask), ["input `x` is f64, declared f32"]),
             ((x, torch.ones(3, 8)), ["N is 2 by input `x` axis 0 but 3 by input `mask` axis 0"]),
             ((x.numpy(), mask), ["input `x` is a ndarray, not a tensor"])]
    for args, words in cases:
        with pytest.raises(InputError) as e:
            module(*args)
        assert isinstance(e.value, ValueError)
        for w in words:
            assert w in str(e.value), (w, str(e.value))
    module.check_inputs = False         # off for speed: the where-breaking H goes through
    assert module(torch.ones(2, 12, 4), torch.ones(2, 12))[0].shape == (2, 12, 3)


# ---- 4. --guards: the same checks in the ONNX graph -----------------------------------------

def _small_weights():
    rng = np.random.default_rng(3)
    return {"dense_1.weight": rng.standard_normal((3, 4)).astype(np.float32),
            "dense_1.bias": rng.standard_normal(3).astype(np.float32)}


def test_onnx_guards_on_onnxruntime():
    import onnxruntime as ort
    model = dslc.load(SMALL).models["Small"]
    w = _small_weights()
    sessions = {g: ort.InferenceSession(model.to_onnx(weights=w, guards=g).SerializeToString(),
                                        providers=["CPUExecutionProvider"]) for g in (False, True)}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 4)).astype(np.float32)
    mask = rng.standard_normal((2, 16)).astype(np.float32)
    plain = sessions[False].run(None, {"x": x, "mask": mask})
    guarded = sessions[True].run(None, {"x": x, "mask": mask})
    for a, b in zip(plain, guarded):
        assert np.array_equal(a, b)
    assert np.allclose(guarded[0], x @ w["dense_1.weight"].T + w["dense_1.bias"], atol=1e-5)
    assert np.array_equal(guarded[1], np.maximum(mask, 0))
    bad = [({"x": np.zeros((2, 12, 4), np.float32), "mask": np.zeros((2, 12), np.float32)},
            "H (input x axis 1) must satisfy H % 8 == 0"),
           ({"x": np.zeros((2, 72, 4), np.float32), "mask": np.zeros((2, 72), np.float32)},
            "H <= 64"),
           ({"x": x, "mask": np.zeros((3, 16), np.float32)}, "input mask axis 0 must equal N"),
           ({"x": x, "mask": np.zeros((2, 8), np.float32)}, "input mask axis 1 must equal H")]
    for feeds, words in bad:
        sessions[False].run(None, feeds)              # onnxruntime alone lets these through
        with pytest.raises(Exception) as e:
            sessions[True].run(None, feeds)
        assert "dslc guard: " in str(e.value) and words in str(e.value), str(e.value)


INDEXED = """model E {
    input ids: i64[N, T]
    input lengths: i64[N]
    input x: f32[N, 5]
    input j: i64[N, 3]
    a = ids -> embedding(10, 4) -> lstm(6, lengths=lengths, output=last)
    output g = gather(x, j, axis=-1)
    output y = a
}"""


def test_onnx_guards_check_ids_indices_and_lengths():
    """Issue 23: under --guards the graph refuses what the torch module's input check refuses
    (embedding ids 0..9, gather indices 0..4, lstm lengths 1..T), which onnxruntime alone runs:
    Gather wraps a negative id, a length of 0 or past T gives garbage."""
    import onnxruntime as ort
    from dslc.backends.onnx.guards import guard_message
    model = dslc.check_text(INDEXED).models["E"]
    sessions = {g: ort.InferenceSession(model.to_onnx(guards=g).SerializeToString(),
                                        providers=["CPUExecutionProvider"]) for g in (False, True)}
    good = {"ids": np.array([[1, 9, 0], [2, 3, 4]]), "lengths": np.array([3, 1]),
            "x": np.arange(10, dtype=np.float32).reshape(2, 5), "j": np.array([[0, 4, 1], [1, 1, 1]])}
    for a, b in zip(sessions[False].run(None, good), sessions[True].run(None, good)):
        assert np.array_equal(a, b)
    bad = [("ids", [[1, 10, 0], [2, 3, 4]], "input ids must be <= 9 (the ids of embedding"),
           ("ids", [[1, -1, 0], [2, 3, 4]], "input ids must be >= 0 (the ids of embedding"),
           ("lengths", [0, 1], "input lengths must be >= 1 (the lengths of lstm `lstm_1`)"),
           ("lengths", [3, 4], "input lengths must be <= T (the lengths of lstm `lstm_1`)"),
           ("j", [[0, 5, 1], [1, 1, 1]], "input j must be <= 4 (the indices of gather"),
           ("j", [[0, 1, 1], [1, -5, 1]], "input j must be >= 0 (the indices of gather")]
    for name, value, words in bad:
        feeds = {**good, name: np.array(value)}
        if name != "lengths" and min(np.ravel(value)) < 0:
            sessions[False].run(None, feeds)         # onnxruntime alone wraps these
        with pytest.raises(Exception) as e:
            sessions[True].run(None, feeds)
        assert (guard_message(str(e.value)) or "").startswith(words), str(e.value)


def test_compile_and_run_guards_flag(capsys, tmp_path):
    import onnx
    spec = spec_file(tmp_path, SEQ)
    plain, guarded = tmp_path / "plain.onnx", tmp_path / "guarded.onnx"
    assert cli(capsys, "compile", spec, "--target", "onnx", "-o", plain)[0] == 0
    assert cli(capsys, "compile", spec, "--target", "onnx", "--guards", "-o", guarded)[0] == 0
    names = [n.name for n in onnx.load(str(guarded)).graph.node]
    assert any(n.startswith("dslc guard: H") for n in names)
    assert not any(n.name.startswith("dslc guard") for n in onnx.load(str(plain)).graph.node)
    # an .onnx file keeps no `where`: the unguarded graph runs H=30, the guarded one refuses
    code, out, _ = cli(capsys, "run", plain, "--dim", "H=30", "--dim", "T=4", "--repeat", 1)
    assert code == 0 and "image: float32[1, 3, 30, 30]" in out
    code, out, err = cli(capsys, "run", guarded, "--dim", "H=30", "--dim", "T=4", "--repeat", 1)
    line = one_line(err)
    assert code == 2 and out == "" and "H % 8 == 0" in line and "input image axis 2 is 30" in line
    code, out, _ = cli(capsys, "run", spec, "--guards", "--dim", "H=8", "--dim", "T=4",
                       "--repeat", 1)
    assert code == 0 and "output z: float32[1, 2, 8, 8]" in out
    code, _, err = cli(capsys, "compile", spec, "--target", "torch", "--guards")
    assert code == 2 and "--target onnx" in one_line(err)
    code, _, err = cli(capsys, "run", guarded, "--guards")
    assert code == 2 and "--guards" in one_line(err)


def test_renumbered_automatic_names_get_a_hint():
    """A checkpoint of `dense(3) -> dense(2)` given to `dense(4) -> dense(3) -> dense(2)`: the
    inserted layer took the name dense_1, and every later dense moved up by one."""
    from dslc.passes.weights import WeightsError
    old = dslc.check_text("model M { input x: f32[N, 4]\n output y = x -> dense(3) -> dense(2) }")
    new = dslc.check_text("model M { input x: f32[N, 4]\n"
                          " output y = x -> dense(4) -> dense(3) -> dense(2) }")
    with pytest.raises(WeightsError, match="differ only in their automatic layer numbers") as e:
        new.models["M"].to_onnx(weights=old.models["M"].weights())
    assert e.value.missing == ["dense_3.weight", "dense_3.bias"]
    fitting = {k: np.zeros(v, np.float32) for k, v in new.models["M"].param_shapes().items()}
    fitting["head.weight"] = fitting.pop("dense_3.weight")          # another name, no number
    with pytest.raises(WeightsError) as e:
        new.models["M"].to_onnx(weights=fitting)
    assert e.value.missing == ["dense_3.weight"] and e.value.extra == ["head.weight"]
    assert "automatic layer numbers" not in str(e.value)
