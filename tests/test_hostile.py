"""Issue 23: what an independent fuzzer and a hostile command line found. Each case answers with
a located diagnostic or one line and exit 1/2: never a traceback, a hang, or a file replaced."""
from __future__ import annotations

import pytest

from dslc.api import check_text
from dslc.diagnostics import render
from support import cli

# Separators that Python's str.splitlines splits at and lark does not.
SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=ascii)
def test_a_separator_in_a_comment_leaves_later_lines_where_they_are(sep):
    text = (f"# a comment{sep}with a separator\n"
            "model M {\n"
            "    input x: f32[N, 4]\n"
            "    output y = x -> conv2d(2, 3)\n"
            "}\n")
    (d,) = check_text(text).diagnostics
    assert d.span.line == 4
    assert "output y = x -> conv2d(2, 3)" in render(d, check_text(text).sources, False)


@pytest.mark.parametrize("sep", SEPARATORS, ids=ascii)
def test_a_separator_inside_a_token_is_a_located_syntax_error(sep):
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> re{sep}lu\n}}\n"
    program = check_text(text)
    (d,) = program.diagnostics
    assert d.code in ("E101", "E102") and d.span.line in (3, 4)
    shown = render(d, program.sources, False)
    assert f"{d.span.line} | " in shown
    assert all(line.isprintable() for line in shown.split("\n"))
    if d.code == "E102":
        assert ascii(sep)[1:-1] in d.message


# ---- imports ----
MAIN = "model M {\n    input x: f32[N, 4]\n    output y = x -> relu\n}\n"


def test_an_import_with_a_nul_byte_is_e105():
    (d,) = check_text('import "\x00.dl"\n' + MAIN, "main.dl").diagnostics
    assert (d.code, d.span.line) == ("E105", 1) and "NUL" in d.message


def test_an_import_whose_symlinks_loop_is_e100(tmp_path):
    (tmp_path / "a.dl").symlink_to("b.dl")
    (tmp_path / "b.dl").symlink_to("a.dl")
    main = tmp_path / "main.dl"
    (d,) = check_text('import "a.dl"\n' + MAIN, str(main)).diagnostics
    assert (d.code, d.span.line) == ("E100", 1) and "loop" in d.message


# ---- numbers at the edges ----
@pytest.mark.parametrize("digits", [101, 4_400, 100_000])
def test_an_integer_literal_over_100_digits_is_e307_before_conversion(digits):
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> dense({'9' * digits})\n}}\n"
    (d,) = check_text(text).diagnostics
    assert (d.code, d.span.line) == ("E307", 3) and f"{digits:,} digits" in d.message


def test_a_100_digit_literal_is_a_size():
    text = f"model M {{\n    input x: f32[N, 4]\n    output y = x -> dense({'9' * 100})\n}}\n"
    assert check_text(text).models["M"].outputs


@pytest.mark.parametrize("target", ["onnx", "torch", "torch-src"])
def test_a_size_over_int64_is_one_line_not_a_backend_traceback(capsys, tmp_path, target):
    spec = tmp_path / "wide.dl"
    spec.write_text("model M {\n    input x: f32[N, 4]\n"
                    f"    output y = x -> dense({10 ** 30})\n}}\n")
    code, out, err = cli(capsys, "compile", spec, "--target", target, "-o", tmp_path / "out")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "over int64" in err
    assert not (tmp_path / "out").exists()


# ---- values an input may hold: recurrent lengths, embedding ids ----
SEQ = ("model S {\n    input ids: i64[N, T]\n    input lengths: i64[N]\n"
       "    output y = ids -> embedding(10, 4) -> lstm(3, lengths=lengths)\n}\n")


@pytest.mark.parametrize("lengths, ids, bad", [([0, 5], 1, 0), ([1, 6], 1, 6), ([-2, 5], 1, -2),
                                               ([1, 5], -1, -1), ([1, 5], 10, 10)])
def test_the_torch_module_refuses_lengths_and_ids_out_of_range(lengths, ids, bad):
    torch = pytest.importorskip("torch")
    from dslc.checks.guards import InputError
    module = check_text(SEQ).models["S"].to_torch()
    with pytest.raises(InputError, match=f"holds {bad}, outside"):
        module(torch.full((2, 5), ids), torch.tensor(lengths))
    assert module(torch.full((2, 5), 9), torch.tensor([1, 5])).shape == (2, 5, 3)


@pytest.mark.parametrize("lengths, bad", [([0, 5], 0), ([1, 6], 6), ([-2, 5], -2)])
def test_run_refuses_lengths_out_of_range_in_one_line(capsys, tmp_path, lengths, bad):
    np = pytest.importorskip("numpy")
    pytest.importorskip("onnxruntime")
    spec, given = tmp_path / "s.dl", tmp_path / "lengths.npy"
    spec.write_text(SEQ)
    np.save(given, np.array(lengths, dtype=np.int64))
    code, out, err = cli(capsys, "run", spec, "--dim", "T=5", "--input", f"lengths={given}")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"`lengths` holds {bad}, outside 1..5 (the lengths of lstm" in err


def test_run_draws_random_lengths_and_ids_in_their_ranges(capsys, tmp_path):
    pytest.importorskip("onnxruntime")
    spec, saved = tmp_path / "s.dl", tmp_path / "out.npz"
    spec.write_text(SEQ)
    code, _, err = cli(capsys, "run", spec, "--dim", "T=7", "--dim", "N=64", "--save", saved)
    import numpy as np
    arrays = np.load(saved)
    assert code == 0, err
    assert arrays["input.lengths"].min() >= 1 and arrays["input.lengths"].max() <= 7
    assert arrays["input.ids"].min() >= 0 and arrays["input.ids"].max() <= 9
    assert arrays["input.lengths"].max() > 1 and arrays["input.ids"].max() > 1


# ---- files: regular files only, bounded reads, targets never replaced ----
def dslc_line(tmp_path, *argv) -> tuple[int, str]:
    """(exit code, stderr) of `dslc ARGV` in a process of its own: a read that blocks on a FIFO
    fails the test by its timeout instead of hanging it."""
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "dslc", *map(str, argv)], cwd=tmp_path, timeout=60,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


@pytest.fixture
def hostile(tmp_path):
    """A folder with a spec, a FIFO and a link to a character device under every name dslc reads."""
    import os
    (tmp_path / "mlp.dl").write_text(MAIN)
    for name in ("fifo.dl", "fifo.npz", "fifo.npy", "fifo.onnx", "fifo.safetensors"):
        os.mkfifo(tmp_path / name)
    for name in ("zero.dl", "zero.npz", "zero.onnx"):
        (tmp_path / name).symlink_to("/dev/zero")
    (tmp_path / "imports.dl").write_text('import "fifo.dl"\n' + MAIN)
    return tmp_path


@pytest.mark.parametrize("argv, why", [
    (["check", "fifo.dl"], "a FIFO"), (["check", "zero.dl"], "a character device"),
    (["compile", "mlp.dl", "--target", "onnx", "--weights", "fifo.npz", "-o", "m.onnx"], "a FIFO"),
    (["compile", "mlp.dl", "--target", "onnx", "--weights", "zero.npz", "-o", "m.onnx"],
     "a character device"),
    (["compile", "mlp.dl", "--target", "onnx", "--weights", "fifo.safetensors", "-o", "m.onnx"],
     "a FIFO"),
    (["run", "mlp.dl", "--input", "x=fifo.npy"], "a FIFO"), (["run", "fifo.onnx"], "a FIFO"),
    (["run", "zero.onnx"], "a character device"), (["import", "fifo.onnx"], "a FIFO")])
def test_a_fifo_or_device_is_refused_in_one_line_never_read(hostile, argv, why):
    code, err = dslc_line(hostile, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"{why}, not a regular file" in err


def test_an_import_of_a_fifo_is_e100(hostile):
    code, err = dslc_line(hostile, "check", "imports.dl")
    assert code == 1 and "error[E100]: cannot import 'fifo.dl': a FIFO, not a regular file" in err


@pytest.mark.parametrize("target, why", [("out.fifo", "a FIFO, not a regular file"),
                                         ("null.onnx", "a character device, not a regular file"),
                                         (".", "Is a directory")])
def test_an_output_that_is_no_regular_file_is_refused_and_left_as_it_was(hostile, target, why):
    import os
    import stat
    os.mkfifo(hostile / "out.fifo")
    (hostile / "null.onnx").symlink_to("/dev/null")
    before = os.lstat(hostile / target)
    code, err = dslc_line(hostile, "compile", "mlp.dl", "--target", "onnx", "-o", target)
    assert code == 2 and err.strip() == f"dslc: cannot write '{target}': {why}"
    after = os.lstat(hostile / target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not stat.S_ISREG(os.stat(hostile / target).st_mode)


def test_a_spec_over_the_bound_is_refused_before_it_is_parsed(hostile):
    from dslc.limits import MAX_SPEC_BYTES
    (hostile / "big.dl").write_text("# " + "x" * MAX_SPEC_BYTES + "\n" + MAIN)
    code, err = dslc_line(hostile, "check", "big.dl")
    assert code == 2 and f"larger than {MAX_SPEC_BYTES:,} bytes" in err


def test_standard_input_is_read_from_a_pipe_and_bounded(hostile):
    import subprocess
    import sys
    ok = subprocess.run([sys.executable, "-m", "dslc", "check", "-"], input=MAIN, text=True,
                        capture_output=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("M: 0 parameters")
    for command in ("check", "fmt"):
        with open("/dev/zero", "rb") as zero:
            endless = subprocess.run([sys.executable, "-m", "dslc", command, "-"], stdin=zero,
                                     capture_output=True, text=True, timeout=60)
        assert endless.returncode == 2 and "larger than" in endless.stderr


@pytest.mark.parametrize("argv", [["compile", "mlp.dl", "--target", "onnx", "-o", "a" * 300 + ".onnx"],
                                  ["check", "a" * 300 + ".dl"],
                                  ["run", "mlp.dl", "--input", "x=" + "a" * 300 + ".npy"]])
def test_a_300_character_file_name_is_one_line(hostile, argv):
    code, err = dslc_line(hostile, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "File name too long" in err


# ---- weights and inputs ----
@pytest.fixture
def arrays(tmp_path):
    """mlp.dl (x: f32[N, 4] -> relu) beside .npy files: a float input, an int one, a bool one, one
    whose header claims more than memory holds, and one whose header claims more than follows."""
    np = pytest.importorskip("numpy")
    (tmp_path / "mlp.dl").write_text(MAIN)
    np.save(tmp_path / "f64.npy", np.ones((2, 4)))
    np.save(tmp_path / "i64.npy", np.ones((2, 4), np.int64))
    np.save(tmp_path / "bool.npy", np.ones((2, 4), bool))
    good = (tmp_path / "f64.npy").read_bytes()
    (tmp_path / "huge.npy").write_bytes(good.replace(b"(2, 4)", b"(400000000000, 4)"))
    (tmp_path / "lie.npy").write_bytes(good.replace(b"(2, 4)", b"(9, 4)"))
    return tmp_path


@pytest.mark.parametrize("name, why", [
    ("i64", "is i64, declared f32: dslc casts within a kind only; save the array cast "
            "(`x.astype(np.float32)`)"),
    ("bool", "is bool, declared f32"), ("huge", "over the"),
    ("lie", "truncated: its header declares [9, 4] float64, 288 bytes, and 64 follow it")])
def test_run_refuses_an_input_of_another_kind_or_a_lying_header(capsys, arrays, name, why):
    code, _, err = cli(capsys, "run", arrays / "mlp.dl", "--input", f"x={arrays / name}.npy")
    assert code == 2 and len(err.strip().splitlines()) == 1 and why in err


def test_run_casts_an_input_of_the_same_kind(capsys, arrays):
    code, out, err = cli(capsys, "run", arrays / "mlp.dl", "--input", f"x={arrays / 'f64.npy'}")
    assert code == 0 and "input  x: float32[2, 4]" in out, err


@pytest.mark.parametrize("argv, why", [
    (["--dim", "N=99999999999999999999"], "a size from 1 to 2**63 - 1"),
    (["--dim", "N=" + "9" * 5000], "a size from 1 to 2**63 - 1"),
    (["--dim", "N=100000000000"], "need 5.82 TiB, over the"),
    (["--seed", "-1"], "a seed is an integer from 0 to 2**64 - 1"),
    (["--dim", "N=\u0663"], "a size from 1 to 2**63 - 1"),             # an Arabic-Indic 3
    (["--repeat", "99999999999999"], "--repeat must be from 1 to 10,000"),
    (["--input", "x=X", "--input", "x=X"], "--input gives `x` twice")])
def test_run_validates_dims_and_seeds_in_one_line(capsys, arrays, argv, why):
    from dslc.cli.common import Usage
    try:
        code, _, err = cli(capsys, "run", arrays / "mlp.dl",
                           *[a.replace("=X", f"={arrays / 'f64.npy'}") for a in argv])
    except Usage as e:                         # argparse's error, printed by main's caller
        code, err = 2, str(e)
    assert code == 2 and why in err


@pytest.fixture
def weights(tmp_path):
    """dslc.dl's model (dense 4 -> 3) and its weights saved every way --weights takes."""
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    (tmp_path / "m.dl").write_text("model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3)\n}\n")
    state = check_text((tmp_path / "m.dl").read_text()).models["M"].to_torch().state_dict()
    torch.save(state, tmp_path / "good.pt")
    torch.save({**state, "dense_1.weight": state["dense_1.weight"].to_sparse()}, tmp_path / "sparse.pt")
    torch.save({**state, "dense_1.weight": torch.empty(3, 4, device="meta")}, tmp_path / "meta.pt")
    nan = {k: v.clone() for k, v in state.items()}
    nan["dense_1.bias"][1] = float("inf")
    torch.save(nan, tmp_path / "nan.pt")
    np.savez(tmp_path / "nan.npz", **{k: v.numpy() for k, v in nan.items()})
    np.savez(tmp_path / "good.npz", **{k: v.numpy() for k, v in state.items()})
    good = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    return tmp_path


@pytest.mark.parametrize("name, why", [
    ("sparse.pt", "`dense_1.weight` is a sparse tensor (torch.sparse_coo); save `.to_dense()`"),
    ("meta.pt", "`dense_1.weight` is a meta tensor, which holds no values"),
    ("nan.pt", "NaN or inf in dense_1.bias (--allow-nonfinite takes them as they are)"),
    ("nan.npz", "NaN or inf in dense_1.bias"), ("truncated.npz", "as an .npz of arrays: ")])
def test_compile_refuses_unusable_weights_in_one_line(capsys, weights, name, why):
    code, _, err = cli(capsys, "compile", weights / "m.dl", "--target", "onnx", "--weights",
                       weights / name, "-o", weights / "m.onnx")
    assert code == 2 and len(err.strip().splitlines()) == 1 and why in err
    assert not (weights / "m.onnx").exists()


@pytest.mark.parametrize("name", ["good.pt", "good.npz"])
def test_compile_takes_good_weights_and_nonfinite_ones_when_allowed(capsys, weights, name):
    for given in (name, "nan." + name.split(".")[1]):
        flags = ["--allow-nonfinite"] if given.startswith("nan") else []
        code, out, err = cli(capsys, "compile", weights / "m.dl", "--target", "onnx", "--weights",
                             weights / given, "-o", weights / "m.onnx", *flags)
        assert code == 0 and out.startswith("wrote "), err


@pytest.fixture
def checkpoints(weights):
    """m.dl's weights as .safetensors files, good and hostile, and sharded indexes."""
    import json
    import struct
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file
    state = torch.load(weights / "good.pt", weights_only=True)
    save_file(state, weights / "good.safetensors")
    good = (weights / "good.safetensors").read_bytes()
    (weights / "truncated.safetensors").write_bytes(good[:-5])
    n = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + n])
    header["dense_1.weight"].update(shape=[400000000000, 4], data_offsets=[0, 6_400_000_000_000])
    claim = json.dumps(header).encode()
    (weights / "claims.safetensors").write_bytes(struct.pack("<Q", len(claim)) + claim + good[8 + n:])
    (weights / "npz.safetensors").write_bytes((weights / "good.npz").read_bytes())
    save_file({**state, "dense_1.bias": state["dense_1.bias"].to(torch.float8_e4m3fn)},
              weights / "f8.safetensors")
    save_file(torch.load(weights / "nan.pt", weights_only=True), weights / "nan.safetensors")
    (weights / "shards").mkdir()
    save_file({"dense_1.weight": state["dense_1.weight"]}, weights / "shards" / "a.safetensors")
    save_file({"dense_1.bias": state["dense_1.bias"]}, weights / "shards" / "b.safetensors")
    save_file(state, weights / "shards" / "both.safetensors")
    for name, where in [("model.safetensors.index.json",
                         {"dense_1.weight": "a.safetensors", "dense_1.bias": "b.safetensors"}),
                        ("escapes.json", {"dense_1.weight": "../good.safetensors"}),
                        ("wrong.json", {"dense_1.weight": "b.safetensors", "dense_1.bias": "a.safetensors"}),
                        ("unlisted.json", {"dense_1.weight": "both.safetensors"}),
                        ("absent.json", {"dense_1.weight": "a.safetensors", "dense_1.bias": "b.safetensors",
                                         "dense_2.bias": "a.safetensors"})]:
        (weights / "shards" / name).write_text(json.dumps({"metadata": {}, "weight_map": where}))
    (weights / "shards" / "bad.json").write_text('{"weight_map": {"dense_1.weight": ')
    (weights / "shards" / "list.json").write_text('["a.safetensors"]')
    return weights


@pytest.mark.parametrize("name, why", [
    ("truncated.safetensors", "as safetensors: truncated: its header declares 60 bytes of "
                              "tensors, and 55 follow it"),
    ("claims.safetensors", "truncated: its header declares 6,400,000,000,000 bytes of tensors"),
    ("npz.safetensors", "not a safetensors file (one starts with its header's length in 8 bytes"),
    ("f8.safetensors", "`dense_1.bias` is F8_E4M3, a dtype numpy cannot hold; save it as F32, "
                       "F16 or BF16"),
    ("nan.safetensors", "NaN or inf in dense_1.bias (--allow-nonfinite takes them as they are)"),
    ("shards/escapes.json", "its shard '../good.safetensors' is not a file in the index's folder"),
    ("shards/wrong.json", "'b.safetensors' holds `dense_1.bias`, which the index puts in "
                          "'a.safetensors'"),
    ("shards/unlisted.json", "'both.safetensors' holds `dense_1.bias`, which the index does not list"),
    ("shards/absent.json", "the index puts `dense_2.bias` in 'a.safetensors', which does not hold it"),
    ("shards/bad.json", "as a checkpoint index: Expecting value: line 1 column 35 (char 34)"),
    ("shards/list.json", "a checkpoint index is a JSON object whose `weight_map` maps each")])
def test_compile_refuses_hostile_safetensors_in_one_line(capsys, checkpoints, name, why):
    code, _, err = cli(capsys, "compile", checkpoints / "m.dl", "--target", "onnx", "--weights",
                       checkpoints / name, "-o", checkpoints / "m.onnx")
    assert code == 2 and len(err.strip().splitlines()) == 1 and why in err, err
    assert not (checkpoints / "m.onnx").exists()


def test_safetensors_over_the_memory_available_are_refused_before_they_are_read(
        capsys, checkpoints, monkeypatch):
    monkeypatch.setattr("dslc.checks.memory.available_memory", lambda: (59, "a test's limit"))
    for name in ("good.safetensors", "shards/model.safetensors.index.json"):
        code, _, err = cli(capsys, "compile", checkpoints / "m.dl", "--target", "onnx", "--weights",
                           checkpoints / name, "-o", checkpoints / "m.onnx")
        assert code == 2 and err.strip() == (
            f"dslc: cannot read '{checkpoints / name}': its tensors need 60 B, over the 59 B "
            "available (the largest: `dense_1.weight` [3, 4] F32)")


@pytest.mark.parametrize("name", ["good.safetensors", "shards/model.safetensors.index.json", "shards"])
def test_compile_takes_safetensors_and_their_shards(capsys, checkpoints, name):
    code, out, err = cli(capsys, "compile", checkpoints / "m.dl", "--target", "onnx", "--weights",
                         checkpoints / name, "-o", checkpoints / "m.onnx")
    assert code == 0 and out.startswith("wrote "), err


# ---- ONNX import: graphs validated before recognition ----
def _graph(tmp_path, nodes, inits=(), name="g.onnx"):
    """An .onnx file of `nodes` from x: f32[N, 4] to y."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "G", [x], [y], initializer=list(inits))
    (tmp_path / name).write_bytes(helper.make_model(graph).SerializeToString())
    return name


def _external(tmp_path, location, length=64):
    """A [4, 4] f32 initializer `w` whose data is at `location` (external data)."""
    from onnx import TensorProto
    w = _tensor("w", [4, 4])
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        w.external_data.add(key=k, value=v)
    return w


def _tensor(name, dims):
    """An f32 TensorProto declaring `dims` and holding no data."""
    from onnx import TensorProto
    t = TensorProto(name=name, data_type=TensorProto.FLOAT)
    t.dims.extend(dims)
    return t


def _matmul(tmp_path, location, length=64):
    from onnx import helper
    return _graph(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                  [_external(tmp_path, location, length)])


def _node(op, ins, outs, **attrs):
    from onnx import helper
    return helper.make_node(op, ins, outs, name=op.lower(), **attrs)


@pytest.mark.parametrize("case, why", [
    ("self", "node 'relu' (Relu) reads 'y', its own output"),
    ("cycle", "node 'relu' (Relu) reads 'b', a value no node before it produces"),
    ("concat", "node 'concat' (Concat) lacks its required attribute `axis`"),
    ("cast", "node 'cast' (Cast) lacks its required attribute `to`"),
    ("nan", "node 'leakyrelu' (LeakyRelu): attribute `alpha` is not finite"),
    ("empty", "initializer 'w' declares [1000000, 1000000], 1,000,000,000,000 values; its data holds 0"),
    ("passwd", "its external data '/etc/passwd' is not a file in the model's folder"),
    ("up", "its external data '../../w.bin' is not a file in the model's folder"),
    ("link", "its external data 'link.bin' is not a file in the model's folder"),
    ("missing", "cannot read its external data 'gone.bin': No such file or directory"),
    ("short", "'w.bin' holds no 64 bytes at offset 0 (length 64)")])
def test_import_refuses_a_broken_or_hostile_graph_in_one_line(tmp_path, case, why):
    import subprocess
    import sys
    (tmp_path / "w.bin").write_bytes(b"\0" * 32)
    (tmp_path / "link.bin").symlink_to("/etc/hostname")
    big = _tensor("w", [10 ** 6, 10 ** 6])
    name = {
        "self": lambda: _graph(tmp_path, [_node("Relu", ["y"], ["y"])]),
        "cycle": lambda: _graph(tmp_path, [_node("Relu", ["b"], ["a"]), _node("Relu", ["a"], ["b"]),
                                           _node("Identity", ["b"], ["y"])]),
        "concat": lambda: _graph(tmp_path, [_node("Concat", ["x", "x"], ["y"])]),
        "cast": lambda: _graph(tmp_path, [_node("Cast", ["x"], ["y"])]),
        "nan": lambda: _graph(tmp_path, [_node("LeakyRelu", ["x"], ["y"], alpha=float("nan"))]),
        "empty": lambda: _graph(tmp_path, [_node("MatMul", ["x", "w"], ["y"])], [big]),
        "passwd": lambda: _matmul(tmp_path, "/etc/passwd"),
        "up": lambda: _matmul(tmp_path, "../../w.bin"),
        "link": lambda: _matmul(tmp_path, "link.bin"),
        "missing": lambda: _matmul(tmp_path, "gone.bin"),
        "short": lambda: _matmul(tmp_path, "w.bin"),
    }[case]()
    r = subprocess.run([sys.executable, "-m", "dslc", "import", name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and why in r.stderr, r.stderr
    assert not (tmp_path / "g.dl").exists()


def test_import_reads_external_data_beside_the_model_from_any_folder(tmp_path):
    import subprocess
    import sys
    np = pytest.importorskip("numpy")
    (tmp_path / "m").mkdir()
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    (tmp_path / "m" / "w.bin").write_bytes(w.tobytes())
    _matmul(tmp_path / "m", "w.bin")
    r = subprocess.run([sys.executable, "-m", "dslc", "import", "m/g.onnx", "-o", "g.dl"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (weights,) = np.load(tmp_path / "g.weights.npz").values()
    assert sorted(weights.ravel().tolist()) == w.ravel().tolist()


def test_what_dslc_prints_cannot_drive_the_terminal(capsys, tmp_path):
    """A file name or spec text with a newline or an escape sequence prints as one printable
    line (U+FFFD in their place)."""
    name = str(tmp_path / "a\nb\x1b[2J.dl")
    code, _, err = cli(capsys, "check", name)
    assert code == 2 and err.count("\n") == 1 and err[:-1].isprintable() and "a\ufffdb\ufffd[2J" in err
    program = check_text('model M {\n    input x: f32[N, 4]\n    output y = x -> pad("\x1b[2J")\n}\n')
    shown = render(program.diagnostics[0], program.sources)
    assert "\x1b" not in shown and "\ufffd[2J" in shown


@pytest.mark.parametrize("index, bad", [([0, 4, 5], 5), ([0, -1, 4], -1)])
def test_gather_and_index_select_indices_out_of_range_are_refused(index, bad):
    torch = pytest.importorskip("torch")
    from dslc.checks.guards import InputError
    text = ("model G {\n    input x: f32[N, 5]\n    input i: i64[3]\n    input j: i64[N, 3]\n"
            "    a = index_select(x, i, axis=1)\n    output y = gather(x, j, axis=-1)\n    output z = a\n}\n")
    module = check_text(text).models["G"].to_torch()
    x, good = torch.zeros(2, 5), torch.tensor([0, 4, 2])
    with pytest.raises(InputError, match=f"`i` holds {bad}, outside 0..4 \\(the indices of index_select"):
        module(x, torch.tensor(index), good.expand(2, 3))
    with pytest.raises(InputError, match=f"`j` holds {bad}, outside 0..4 \\(the indices of gather"):
        module(x, good, torch.tensor(index).expand(2, 3))
    assert module(x, good, good.expand(2, 3))[0].shape == (2, 3)


@pytest.mark.parametrize("before, after", [(30, 30), (0, 3000), (3000, 0), (3000, 3000)])
def test_a_long_line_is_shown_as_a_window_on_its_span(before, after):
    """A diagnostic on a line of thousands of columns quotes about 100 of them around the
    span, `...` marking what is cut, the caret still under the offending name."""
    line = "    output y = x -> relu" + " -> relu" * before + " -> rulu" + " -> relu" * after
    program = check_text("model M {\n    input x: f32[N, 4]\n" + line + "\n}\n")
    (d,) = program.diagnostics
    shown = render(d, program.sources).splitlines()
    code, caret = shown[2].split(" | ", 1)[1], shown[3].split(" | ", 1)[1]
    assert d.code == "E202" and len(code) <= 106
    assert code[len(caret) - 4:len(caret)] == "rulu" and caret.endswith("^^^^")
    assert code.startswith("...") == (len(line) > 100 and before > 10)
    assert code.endswith("...") == (len(line) > 100 and after > 10)


def test_a_megabyte_of_spec_text_quoted_in_a_message_is_cut():
    """An einsum equation (or any string argument) is quoted by the message that refuses it:
    its first and last 500 characters, and how many are left out."""
    from dslc.diagnostics import MAX_TEXT
    equation = "a" * 500_000 + "->a"
    program = check_text("model M {\n    input x: f32[N, 4]\n    input y: f32[4, 4]\n"
                         f'    output z = einsum("{equation}", x, y)\n}}\n')
    (d,) = program.diagnostics
    assert d.code == "E208" and "[... 499,0" in d.message and d.message.endswith("tensor(s) are given")
    assert len(d.message) < MAX_TEXT + 40 and len(render(d, program.sources)) < 3 * MAX_TEXT


@pytest.mark.parametrize("layer, field", [
    ("x -> conv2d(4, 3, stride=99999999999999999999)", "stride"),
    ("x -> avgpool2d(2, stride=99999999999999999999)", "stride"),
    ("t -> slice(0, 6, axis=1, step=99999999999999999999)", "step")])
@pytest.mark.parametrize("target", ["onnx", "torch-src"])
def test_a_hyperparameter_beyond_int64_is_one_line_at_compile(capsys, tmp_path, layer, field, target):
    """It checks (sizes may be astronomically large), but no backend holds it: one line naming
    the layer and its line, not onnx's `Value out of range` or an OverflowError."""
    spec = tmp_path / "r.dl"
    spec.write_text("model M {\n    input x: f32[N, 4, 8, 8]\n    input t: f32[N, 6, 8]\n"
                    f"    output y = {layer}\n}}\n")
    assert cli(capsys, "check", spec)[0] == 0
    code, _, err = cli(capsys, "compile", spec, "--target", target, "-o", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1
    assert f"has {field} 99,999,999,999,999,999,999, beyond int64" in err and "r.dl:4:" in err


def test_a_long_arange_is_computed_at_run_time_not_stored():
    """arange(10**14) in ONNX is a Range node (an initializer of 800 TB was allocated at compile);
    a short one is still a constant."""
    import onnx
    model = check_text("model M {\n    input x: f32[N, 4]\n    output y = arange(100000000000000)\n"
                       "    output z = arange(3, 10, 2)\n}\n").models["M"]
    graph = model.to_onnx().graph
    assert [n.op_type for n in graph.node if n.name.startswith("arange_1")] == ["Range"]
    (values,) = [i for i in graph.initializer if i.name.startswith("arange_2")]
    assert onnx.numpy_helper.to_array(values).tolist() == [3, 5, 7, 9]


def test_weights_that_would_be_inf_in_the_compiled_dtype_are_refused():
    """--dtype f16 of a weight of 1e10 wrote inf (past the NaN/inf refusal): refused by name,
    as is an f64 value past f32's range."""
    import numpy as np
    from dslc.passes.weights import WeightsError
    model = check_text("model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3)\n}\n").models["M"]
    w = {"dense_1.weight": np.full((3, 4), 1e10, np.float32), "dense_1.bias": np.zeros(3, np.float32)}
    with pytest.raises(WeightsError, match="dense_1.weight holds 1e\\+10, over f16's largest 65504"):
        model.to_onnx(weights=w, dtype="f16")
    model.to_onnx(weights=w)                              # f32 holds it
    w64 = {**w, "dense_1.weight": np.full((3, 4), 1e40)}
    with pytest.raises(WeightsError, match="over f32's largest"):
        model.to_onnx(weights=w64)
    w64["dense_1.weight"][:] = 1.0
    model.to_onnx(weights=w64)


def test_adaptive_pooling_to_a_trillion_windows_is_e401_not_a_trillion_slices():
    """A compile probe over specgen's specs hung here: the ONNX form of an uneven adaptive
    pool is a Slice and a Reduce per output window."""
    from dslc.backends import BackendError
    model = check_text("model M {\n    input x: f32[N, 8, W, 16]\n"
                       "    output y = x -> adaptive_avgpool(1000000000000)\n}\n").models["M"]
    with pytest.raises(BackendError, match="E401.*2,000,000,000,000, over 4,096"):
        model.to_onnx(weightless=True)
    small = check_text("model M {\n    input x: f32[N, 8, 10, 7]\n"
                       "    output y = x -> adaptive_avgpool((3, 5))\n}\n").models["M"]
    assert small.to_onnx().graph.node


def test_a_bounded_read_allocates_what_the_file_holds_not_the_bound(tmp_path):
    """Review row 11: read_stream asked for the whole bound (the available memory, ~22 GB for
    weights and graphs) up front, a MemoryError under `ulimit -v` for a 155-byte graph."""
    import io
    import tracemalloc
    from dslc.files import Unreadable, read_stream
    tracemalloc.start()
    try:
        data = read_stream(io.BytesIO(b"x" * 1000), 20_000_000_000, "f")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert data == b"x" * 1000 and peak < 100_000
    big = b"y" * (3 * (1 << 24) + 5)                       # several chunks, joined in order
    assert read_stream(io.BytesIO(big), len(big), "g") == big
    with pytest.raises(Unreadable, match="larger than 1,000 bytes"):
        read_stream(io.BytesIO(b"x" * 1001), 1000, "f")


def test_fmt_writes_through_a_symlink_and_keeps_the_files_mode(capsys, tmp_path):
    """Review rows 18 and 19: the atomic rewrite replaced a symlink with a regular file (the
    target left unformatted) and reset a private spec's 0600 to 0644."""
    import os
    import stat
    text = "model M {\n  input x: f32[N, 4]\n  output y = x->relu\n}\n"
    target, link, private = tmp_path / "target.dl", tmp_path / "link.dl", tmp_path / "p.dl"
    target.write_text(text)
    link.symlink_to(target.name)
    private.write_text(text)
    private.chmod(0o600)
    assert cli(capsys, "fmt", link, private)[0] == 0
    assert link.is_symlink() and os.readlink(link) == "target.dl"
    assert "output y = x -> relu" in target.read_text()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and "x -> relu" in private.read_text()


def _lying_npz(path):
    import zipfile
    header = b"{'descr':__import__('os')\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("dense_1.weight.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)


@pytest.mark.parametrize("case, why", [
    ("npz", "a member's .npy header is not one numpy writes"),
    ("deep", "as a checkpoint index: maximum recursion depth"),
    ("loop", "its shard 'loop.safetensors' is not a file in the index's folder")])
def test_hostile_checkpoints_are_one_line(capsys, tmp_path, case, why):
    """Review rows 7-9: an .npy header numpy's parser chokes on (never evaluated), an index of
    100,000 nested `[`, a shard that is a symlink loop: TokenError, RecursionError and
    RuntimeError tracebacks before."""
    spec = tmp_path / "m.dl"
    spec.write_text("model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3)\n}\n")
    weights = tmp_path / ("w.npz" if case == "npz" else "w.index.json")
    if case == "npz":
        _lying_npz(weights)
    elif case == "deep":
        weights.write_text("[" * 100_000)
    else:
        weights.write_text('{"weight_map": {"dense_1.weight": "loop.safetensors"}}')
        (tmp_path / "loop.safetensors").symlink_to("loop.safetensors")
    code, _, err = cli(capsys, "compile", spec, "--target", "onnx", "-o", tmp_path / "m.onnx",
                       "--weights", weights)
    assert code == 2 and err.count("\n") == 1 and why in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_running_out_of_memory_is_one_line(capsys, tmp_path, monkeypatch):
    """Review row 10: past every estimate (`--max-memory 9999999T`, a ulimit), numpy's
    ArrayMemoryError was a traceback; now one line, exit 1."""
    import dslc.api

    def exhausted(*args):
        raise MemoryError("Unable to allocate 74.5 GiB")
    monkeypatch.setattr(dslc.api, "elaborate", exhausted)
    spec = tmp_path / "m.dl"
    spec.write_text("model M {\n    input x: f32[N, 4]\n    output y = x -> dense(3)\n}\n")
    code, out, err = cli(capsys, "check", spec)
    assert code == 1 and out == "" and err.count("\n") == 1 and "dslc check: out of memory" in err


@pytest.mark.parametrize("argv, why", [
    (["-o", "FILE"], "not a folder (--target genai writes a folder)"),
    (["--context-length", "-5"], "--context-length must be at least 1, got -5"),
    (["--bos", "-1"], "--bos -1 is not a token of the model's 30-token vocabulary (0 to 29)"),
    (["--eos", "30"], "--eos 30 is not a token of the model's 30-token vocabulary"),
    (["--tokenizer", "FIFO"], "a FIFO, not a regular file"),
    (["--tokenizer", "FILE"], "not a tokenizers file")])
def test_compile_genai_refuses_bad_arguments_in_one_line(capsys, tmp_path, argv, why):
    """Review rows 12, 14 and 21: -o at a file was a FileExistsError traceback, a FIFO
    tokenizer 'no such file', a negative context or a token past the vocabulary written into
    genai_config.json, any file copied as the tokenizer."""
    import os
    from specfiles import ROOT
    spec = ROOT / "specs" / "transformer" / "char_gpt.dl"
    (tmp_path / "file.txt").write_text("not a folder\n")
    os.mkfifo(tmp_path / "fifo")
    names = {"FILE": str(tmp_path / "file.txt"), "FIFO": str(tmp_path / "fifo")}
    out = ["-o", str(tmp_path / "ga")] if "-o" not in argv else []
    code, _, err = cli(capsys, "compile", spec, "--target", "genai", *out,
                       *[names.get(a, a) for a in argv])
    assert code == 2 and err.count("\n") == 1 and why in err, err
    assert not (tmp_path / "ga").exists() and (tmp_path / "file.txt").read_text() == "not a folder\n"
