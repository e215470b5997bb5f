"""ONNX external data (issue 10, item 4): the parameters written to OUT.data beside the graph
as they are drawn, one tensor in memory at a time, with no 2 GiB bound; automatic over it.
The oracle is the torch module with the same weights."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from dslc.passes.weights import Drawn
from specfiles import ROOT
from support import cli

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
LENET = ROOT / "specs" / "seeds" / "lenet.dl"


def test_drawn_weights_are_the_drawn_dict():
    m = dslc.load(ROOT / "specs" / "zoo" / "resnet.dl").models["ResNet18"]
    lazy, eager = Drawn(m, 3), m.weights(3)
    assert list(lazy) == list(eager) and len(lazy) == len(eager)
    for k in ("Stem_1.conv2d_1.weight", "fc.weight", "layer1.0.batchnorm_1.running_var"):
        np.testing.assert_array_equal(lazy[k], eager[k])


def test_external_graph_computes_what_torch_does(tmp_path):
    m = dslc.load(LENET).models["LeNet"]
    data = tmp_path / "lenet.onnx.data"
    with open(data, "wb") as f:
        proto = m.to_onnx(seed=1, external=(f, data.name))
    (tmp_path / "lenet.onnx").write_bytes(proto.SerializeToString())
    outside = [t.name for t in proto.graph.initializer if t.data_location == 1]
    # every parameter of 1 KiB or more is outside: conv2d_1's 150 weights (600 B) stay inside
    assert "conv2d_2.weight" in outside and "dense_1.weight" in outside
    assert "conv2d_1.weight" not in outside
    assert data.stat().st_size == sum(4 * np.prod(s) for k, s in m.param_shapes().items()
                                      if k in outside)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    (got,) = ort.InferenceSession(str(tmp_path / "lenet.onnx")).run(None, {"image": x})
    module = m.to_torch(weights=m.weights(1)).eval()
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_compile_external_data_and_run(capsys, tmp_path):
    out = tmp_path / "sub" / "lenet.onnx"
    code, text, _ = cli(capsys, "compile", LENET, "--target", "onnx", "--external-data", "-o", out)
    assert code == 0 and out.exists() and (tmp_path / "sub" / "lenet.onnx.data").exists()
    assert out.stat().st_size < 8000                        # the graph, not its weights
    code, text, err = cli(capsys, "run", out, "--repeat", "1", "--dim", "N=2")
    assert code == 0 and "output logits: float32[2, 10]" in text, err


def test_external_data_is_automatic_over_the_protobuf_limit(capsys, tmp_path, monkeypatch):
    import dslc.checks.memory as memory
    monkeypatch.setattr(memory, "ONNX_LIMIT", 100_000)      # LeNet's 246,824 bytes are over
    out = tmp_path / "lenet.onnx"
    code, _, err = cli(capsys, "compile", LENET, "--target", "onnx", "-o", out)
    assert code == 0, err
    assert (tmp_path / "lenet.onnx.data").stat().st_size > 200_000


def test_streamed_memory_bound_is_the_largest_tensor():
    """A streamed build holds one tensor (its float64 draw and its float32 array): LeNet's
    largest, dense_1.weight, has 48,000 elements; a build in memory holds all 61,706 in f32
    beside that draw."""
    from dslc.checks.memory import TooLarge, check_memory
    m = dslc.load(LENET).models["LeNet"]
    check_memory(m, 12 * 48_000, streamed=True)
    with pytest.raises(TooLarge):
        check_memory(m, 12 * 48_000 - 1, streamed=True)
    check_memory(m, 4 * 61_706 + 8 * 48_000)
    with pytest.raises(TooLarge):
        check_memory(m, 12 * 48_000)


def test_progress_on_a_terminal_only():
    import io

    from dslc.cli.common import reporting

    class Tty(io.StringIO):
        def isatty(self):
            return True
    m = dslc.load(LENET).models["LeNet"]
    drawn = Drawn(m, 0)
    assert reporting(drawn, io.StringIO()) is drawn                # piped: nothing shown
    tty = Tty()
    shown = reporting(drawn, tty, every=0)
    assert isinstance(shown, Drawn)
    proto = m.to_onnx(weights=shown)
    assert tty.getvalue().endswith("\rdrawing weights: 100% (61,706 of 61,706)\n")
    assert "\rdrawing weights: 0% (150 of 61,706)" in tty.getvalue()     # conv2d_1.weight first
    assert len(proto.graph.initializer) == len(m.param_shapes())


def test_a_build_draws_each_weight_once():
    m = dslc.load(ROOT / "specs" / "zoo" / "resnet.dl").models["ResNet18"]
    reads = []

    class Counted(Drawn):
        def __getitem__(self, name):
            reads.append(name)
            return super().__getitem__(name)
    m.to_onnx(weights=Counted(m, 0))
    assert sorted(reads) == sorted(m.param_shapes() | m.buffer_shapes())


@pytest.mark.parametrize("spec,name,opts", [("zoo/resnet.dl", "ResNet18", {}),
                                            ("transformer/char_gpt.dl", "CharGPT", {"fuse": True}),
                                            ("autoencoders/tied.dl", "TiedAutoencoder", {}),
                                            ("seeds/lenet.dl", "LeNet", {"dtype": "f16"})])
def test_streamed_file_is_the_model_in_memory(spec, name, opts):
    """to_onnx(stream=f), as `dslc compile` writes: each large weight a ModelProto fragment
    written as it is drawn, the rest of the model last; protobuf parses the concatenation as
    one model. It loads to the same initializers (names, dtypes, values) as the in-memory
    build, passes the checker, and computes what it does."""
    import io

    import onnx
    from onnx import numpy_helper
    m = dslc.load(ROOT / "specs" / spec).models[name]
    f = io.BytesIO()
    described = m.to_onnx(seed=4, stream=f, **opts)
    whole = m.to_onnx(seed=4, **opts)
    loaded = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(loaded, full_check=True)
    arrays = lambda p: {t.name: numpy_helper.to_array(t) for t in p.graph.initializer}
    got, want = arrays(loaded), arrays(whole)
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    # the proto returned describes the file: the initializers of 1 KiB or more are in f only
    assert {t.name for t in described.graph.initializer} == \
        {t.name for t in whole.graph.initializer if len(t.raw_data) < 1024}
    assert [n.op_type for n in loaded.graph.node] == [n.op_type for n in whole.graph.node]
    rng = np.random.default_rng(0)
    feeds = {}
    for i in ort.InferenceSession(whole.SerializeToString()).get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        feeds[i.name] = (rng.integers(0, 10, shape) if "int" in i.type else
                         rng.standard_normal(shape)).astype(
            {"tensor(int64)": np.int64, "tensor(float16)": np.float16}.get(i.type, np.float32))
    if name == "ResNet18":
        feeds["image"] = rng.standard_normal((1, 3, 64, 64)).astype(np.float32)
    for a, b in zip(ort.InferenceSession(f.getvalue()).run(None, feeds),
                    ort.InferenceSession(whole.SerializeToString()).run(None, feeds)):
        np.testing.assert_array_equal(a, b)


def test_compile_writes_the_streamed_model(capsys, tmp_path):
    """`dslc compile --target onnx` streams: the file loads with onnx, has every parameter, and
    onnxruntime runs it on the torch module's numbers."""
    import onnx
    out = tmp_path / "lenet.onnx"
    code, _, err = cli(capsys, "compile", LENET, "--target", "onnx", "--seed", "1", "-o", out)
    assert code == 0, err
    proto = onnx.load(out)
    m = dslc.load(LENET).models["LeNet"]
    assert sorted(t.name for t in proto.graph.initializer) == sorted(m.param_shapes())
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    (got,) = ort.InferenceSession(str(out)).run(None, {"image": x})
    with torch.no_grad():
        want = m.to_torch(weights=m.weights(1)).eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
