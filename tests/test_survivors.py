"""Behaviour no test pinned down until a mutant of benchmarks/mutate.py survived it: each test
names the mutation it kills (`python benchmarks/mutate.py --sample 40 --seed 1`, or 80) and states the
behaviour it checks, which a real bug of that kind would break."""
from __future__ import annotations

import numpy as np
import pytest

import dslc


def _graph_with_input(shape):
    from onnx import TensorProto, helper
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    g = helper.make_graph([node], "G", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_an_unnamed_leading_dim_of_an_onnx_input_gets_one_example():
    """checks/guards.py `complete`: `dslc run graph.onnx` without inputs draws them; a leading
    dim the graph leaves unnamed is a batch of 1 (mutant: `Dim.of(1)` -> `Dim.of(0)`, an empty
    batch that runs and prints nothing); an unnamed dim elsewhere is refused."""
    import onnxruntime as ort
    import pytest
    from dslc.backends.onnx.ort import input_feeds
    from dslc.checks.guards import InputError
    sess = ort.InferenceSession(_graph_with_input([None, 4]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    (x,) = input_feeds(sess, {}).values()
    assert x.shape == (1, 4) and x.dtype == np.float32
    sess = ort.InferenceSession(_graph_with_input([2, None]).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    with pytest.raises(InputError, match="axis 1"):
        input_feeds(sess, {})


def _rendered(text: str) -> str:
    try:
        dslc.load(text)
    except dslc.SpecError as e:
        return str(e)
    raise AssertionError("the spec checked")


def test_an_error_on_the_last_line_shows_that_line():
    """diagnostics.py SourceMap.line: the excerpt and caret of a diagnostic on the file's last
    line, with or without a final newline (mutants: `line <= len(lines)` -> `<`; and
    source_lines' `lines[:-1]` -> `lines[:-0]`, which numbers a final empty line)."""
    for end in ("", "\n"):
        text = "model M {\n input x: f32[N, 4]\n output y = x -> dense(0) }" + end
        out = _rendered(text)
        assert "3 |  output y = x -> dense(0) }" in out and "^" in out, out
    import dslc.diagnostics as d
    assert d.source_lines("a\nb\n") == ["a", "b"] and d.source_lines("a\nb") == ["a", "b"]
    assert d.source_lines("a\n\n") == ["a", ""] and d.source_lines("") == [""]


def test_an_error_deep_in_block_calls_shows_both_ends_of_the_chain():
    """elab/elaborator.py _call_notes: past 6 calls, the 3 innermost, `... K more block calls
    ...` and the 2 outermost (mutant: the tuple concatenation `+` -> `-`, a crash on every
    error 7 calls deep)."""
    blocks = ["block B0(x: [N, 4]) {\n    return x -> dense(0)\n}"]
    blocks += [f"block B{i}(x: [N, 4]) {{\n    return x -> B{i - 1}\n}}" for i in range(1, 8)]
    text = "\n".join(blocks) + "\nmodel M {\n    input x: f32[N, 4]\n    output y = x -> B7\n}\n"
    errors = dslc.check_text(text).errors
    assert errors, "dense(0) deep inside was accepted"
    notes = [msg for _, msg in errors[0].notes if "block" in msg]     # the call chain
    assert len(notes) == 6 and notes[3] == "... 3 more block calls ...", notes
    assert notes.count("in the block called here") == 5


def test_memory_available_is_the_cgroup_limit_less_its_use(monkeypatch):
    """checks/memory.py available_memory: under a cgroup limit, what the limit leaves (limit -
    current use) when that is below MemAvailable (mutant: `cap - used` -> `cap + used`)."""
    import builtins
    import io
    from dslc.checks.memory import available_memory
    files = {"/proc/meminfo": "MemTotal: 67108864 kB\nMemAvailable: 33554432 kB\n",
             "/sys/fs/cgroup/memory.max": "4294967296\n",
             "/sys/fs/cgroup/memory.current": "1073741824\n"}
    real = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: io.StringIO(files[path])
                        if path in files else real(path, *a, **k))
    assert available_memory()[0] == 3 * 2 ** 30
    files["/sys/fs/cgroup/memory.max"] = "max\n"         # no limit: MemAvailable
    assert available_memory()[0] == 32 * 2 ** 30


def test_a_parameter_of_exactly_the_external_minimum_goes_outside(tmp_path):
    """backends/onnx/builder.py: parameters of EXTERNAL_MIN bytes or more are external data
    (mutant: `>=` -> `>`); a dense 16 -> 16 has a weight of exactly 1,024 bytes."""
    from dslc.backends.onnx.builder import EXTERNAL_MIN
    m = dslc.load("model M {\n input x: f32[N, 16]\n output y = x -> dense(16)\n}").models["M"]
    assert 16 * 16 * 4 == EXTERNAL_MIN
    with open(tmp_path / "m.onnx.data", "wb") as f:
        proto = m.to_onnx(external=(f, "m.onnx.data"))
    outside = {t.name for t in proto.graph.initializer if t.data_location == 1}
    assert outside == {"dense_1.weight"}


def test_to_onnx_has_no_guards_unless_asked():
    """ir/core.py Model.to_onnx: `guards` is off by default (mutant: default True): the plain
    graph has only the layers' nodes, the guarded one more."""
    m = dslc.load("model M {\n input x: f32[N, H] where H % 4 == 0\n output y = x -> relu\n}").models["M"]
    plain, default, guarded = m.to_onnx(guards=False), m.to_onnx(), m.to_onnx(guards=True)
    ops = [n.op_type for n in plain.graph.node]
    assert [n.op_type for n in default.graph.node] == ops
    assert len(guarded.graph.node) > len(ops)


def test_a_size_of_two_symbols_names_the_smallest_value_of_each():
    """checks/domain.py _first_ok: the bisection for the smallest value of one symbol (the
    other at its smallest) is over integers (mutant: `(lo + hi) // 2` -> `/ 2`, which ends on
    a float): H*W - 49 >= 1 needs H >= 50 or W >= 50, stated as integers."""
    (d,) = dslc.check_text("model M {\n input x: f32[N, 1, H, W]\n output y = x -> "
                           "flatten(start_dim=2) -> conv1d(4, 50)\n}\n").errors
    assert d.code == "E303" and "valid only when H >= 50 or W >= 50" in d.message, d.message
    assert [(r.symbol, r.kind, r.value) for r in d.requires] == [("H", "min", 50), ("W", "min", 50)]
    assert all(type(r.value) is int for r in d.requires)


def test_end_of_file_is_located_after_the_last_line():
    """syntax/parser.py: an unexpected end of file points just past the last line's text
    (mutant: `lines[-1]` -> `lines[-0]`, the first line's length)."""
    (d,) = dslc.check_text("model M {\n input x: f32[N, 4]\n output y = x -> dense(4").errors
    assert d.code == "E103" and (d.span.line, d.span.col) == (3, len(" output y = x -> dense(4") + 1)


@pytest.mark.parametrize("rank, port, layer", [
    (2, "[N, F]", "dense(8)"), (3, "[N, C, L]", "conv1d(8, 3, padding=1)"),
    (4, "[N, C, H, W]", "conv2d(8, 3, padding=1)"), (5, "[N, C, D, H, W]", "conv3d(8, 3, padding=1)")])
def test_an_imported_repeated_block_names_its_port_by_rank(rank, port, layer):
    """Mutation survivor (onnx_import/fold.py PATTERNS, a rank key moved): a folded block's
    port reads as a person writes it, `[N, C, H, W]`, not `[D0, D1, D2, D3]`."""
    from dslc.onnx_import import import_onnx
    shape = ", ".join(["N", "8"] + ["6"] * (rank - 2))
    model = dslc.check_text(f"block Unit(x: {port}) {{\n    return x -> {layer} -> relu\n}}\n"
                       f"model M {{\n    input x: f32[{shape}]\n    output y = x -> Unit * 3\n}}\n").models["M"]
    text = import_onnx(model.to_onnx(), "g.onnx").text
    assert f"block Unit(x: {port}) {{" in text and "Unit * 3" in text, text


@pytest.mark.parametrize("onnx_type, dtype", [
    ("FLOAT", "f32"), ("FLOAT16", "f16"), ("DOUBLE", "f64"), ("BFLOAT16", "bf16"), ("INT8", "i8"),
    ("INT32", "i32"), ("INT64", "i64"), ("UINT8", "u8"), ("BOOL", "bool")])
def test_an_imported_input_keeps_its_dtype(onnx_type, dtype):
    """Mutation survivor (onnx_import/graph.py DTYPES, a type number moved): each ONNX element
    type dslc has is read as that dtype."""
    from onnx import TensorProto, helper
    from dslc.onnx_import import import_onnx
    to = TensorProto.DOUBLE if onnx_type == "FLOAT" else TensorProto.FLOAT    # a cast that does something
    node = helper.make_node("Cast", ["x"], ["y"], name="c", to=to)
    g = helper.make_graph([node], "G", [helper.make_tensor_value_info("x", getattr(TensorProto, onnx_type), [2, 3])],
                          [helper.make_tensor_value_info("y", to, [2, 3])])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    imported = import_onnx(proto, "g.onnx")
    assert f"input x: {dtype}[2, 3]" in imported.text, imported.text


def test_uniform_init_takes_a_equal_to_b_and_refuses_a_above_b():
    """Mutation survivor (passes/weights.py, `a > b` made `a >= b`): uniform(a=0.5, b=0.5) is
    torch's nn.init.uniform_ with an empty range, every weight 0.5; a above b is an error."""
    text = "model M {{\n    input x: f32[N, 4]\n    output y = x -> dense(3, init=uniform(a={}, b={}))\n}}\n"
    weights = dslc.check_text(text.format(0.5, 0.5)).models["M"].weights()
    assert np.all(weights["dense_1.weight"] == 0.5)      # init= is the weight's; the bias keeps its own
    (d,) = dslc.check_text(text.format(0.6, 0.5)).errors
    assert d.code == "E205" and "a = 0.6 is above b = 0.5" in d.message


def test_the_build_estimate_adds_each_copy_of_the_weights():
    """Mutation survivor (checks/memory.py, `+ copies * ...` made `-`): a build that keeps
    copies of the weights (a torch module beside its state_dict, an ONNX session's) needs
    more, never less. dense(1000) on 1,000 features: 1,001,000 f32 weights, 12 MB to draw
    (4 bytes each and the largest drawn in float64), 8 MB more with two copies."""
    from dslc.checks.memory import TooLarge, check_memory
    model = dslc.check_text("model M {\n    input x: f32[N, 1000]\n    output y = x -> dense(1000)\n}\n").models["M"]
    check_memory(model, 16_000_000, copies=0)
    with pytest.raises(TooLarge, match=r"needs about 19.1 MiB"):      # 20,020,000 bytes
        check_memory(model, 16_000_000, copies=2)


def test_renaming_with_a_transpose_frees_each_tensor_as_it_moves(tmp_path, monkeypatch):
    """Mutation survivor (passes/checkpoints.py, `consume=True` dropped): while read_weights
    renames, each source tensor leaves the checkpoint as its transposed copy is made, so the
    renaming adds about one tensor, not a second checkpoint (GPT-2's Conv1D weights are all
    transposed)."""
    import tracemalloc
    from dslc.passes import checkpoints
    n, mib = 8, 2 ** 20
    np.savez(tmp_path / "w.npz", **{f"h.{i}.w": np.ones((512, 512), np.float32) * i for i in range(n)})
    real, seen = checkpoints._apply, {}

    def measured(*args, **kwargs):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = real(*args, **kwargs)
        seen["added"] = tracemalloc.get_traced_memory()[1] - before
        return out
    monkeypatch.setattr(checkpoints, "_apply", measured)
    tracemalloc.start()
    try:
        got = checkpoints.read_weights(tmp_path / "w.npz", [r"h\.(\d+)\.w -> dense_\1.weight:T"])
    finally:
        tracemalloc.stop()
    assert sorted(got) == sorted(f"dense_{i}.weight" for i in range(n))
    assert got["dense_3.weight"].flags["C_CONTIGUOUS"] and got["dense_3.weight"][0, 0] == 3
    assert seen["added"] < 2.5 * mib, f"renaming added {seen['added'] / mib:.1f} MiB to {n} MiB"


_RSS = """
import gc, resource, sys
import numpy as np
from safetensors.numpy import save_file
from dslc.passes.checkpoints import read_weights
save_file({f"w{i}": np.full((1024, 1024), i, np.float32) for i in range(16)}, sys.argv[1])
gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
weights = read_weights(sys.argv[1])
assert sorted(weights, key=lambda k: int(k[1:])) == [f"w{i}" for i in range(16)]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_safetensors_are_read_without_a_memory_map_counted_twice(tmp_path):
    """Mutation survivor (passes/checkpoints.py, backend="pread" dropped): a memory-mapped
    read's pages count in the resident memory beside the arrays copied out of them. After 64
    MiB of arrays were made and freed, reading the same 64 MiB back with pread stays within
    that high-water mark; a memory map raised it by another 64 MiB."""
    import subprocess
    import sys
    pytest.importorskip("safetensors")
    out = subprocess.run([sys.executable, "-c", _RSS, str(tmp_path / "w.safetensors")],
                         capture_output=True, text=True, check=True)
    assert float(out.stdout) < 32, f"resident memory rose {float(out.stdout):.0f} MiB"


@pytest.mark.parametrize("padding_idx, row", [(-10, 0), (-1, 9), (9, 9)])
def test_embedding_takes_every_padding_index_torch_takes(padding_idx, row):
    """Mutation survivor (ops/recurrent.py, `-n <= padding_idx` made `<`): torch's
    nn.Embedding(10, 4, padding_idx=-10) is row 0; dslc accepts it, that row zero."""
    torch = pytest.importorskip("torch")
    program = dslc.check_text("model M {\n    input ids: i64[N, T]\n"
                              f"    output y = ids -> embedding(10, 4, padding_idx={padding_idx})\n}}\n")
    assert not program.diagnostics, program.diagnostics
    weight = program.models["M"].weights()["embedding_1.weight"]
    assert np.all(weight[row] == 0) and np.count_nonzero(np.all(weight == 0, axis=1)) == 1
    assert torch.nn.Embedding(10, 4, padding_idx=padding_idx).padding_idx == row
    (d,) = dslc.check_text("model M {\n    input ids: i64[N, T]\n"
                           "    output y = ids -> embedding(10, 4, padding_idx=-11)\n}\n").errors
    assert d.code == "E205" and "outside the 10 embeddings" in d.message
