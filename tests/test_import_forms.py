"""ONNX forms dslc import reads beyond dslc's own lowerings (issue 22, item 4), each checked
against onnxruntime's run of the original graph: the imported spec, compiled with the imported
weights, computes the same numbers."""
from __future__ import annotations

import numpy as np
import pytest

from dslc.onnx_import import import_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _run(proto, feeds) -> dict:
    s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


def _graph(nodes, inits, ins, outs, opset=17):
    g = helper.make_graph(nodes, "G", ins, outs,
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _same(proto, feeds, kinds=None):
    imported = import_onnx(proto, "g.onnx")
    if kinds is not None:
        assert [n.kind for n in imported.model.nodes] == kinds, imported.text
    want = _run(proto, feeds)
    got = _run(imported.model.to_onnx(weights=imported.weights), feeds)
    assert len(want) == len(got)
    for w, g in zip(want.values(), got.values()):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return imported


def test_plain_softplus():
    """ONNX's Softplus (torch.onnx.export of nn.Softplus()): softplus, over a range that
    reaches torch's threshold of 20."""
    proto = _graph([helper.make_node("Softplus", ["x"], ["y"], name="sp")], {},
                   [_f32("x", ["N", 4])], [_f32("y", ["N", 4])])
    x = np.linspace(-30, 30, 24, dtype=np.float32).reshape(6, 4)
    _same(proto, {"x": x}, ["softplus"])


def test_constant_operands_become_params():
    """A layer scale (Mul by a constant vector), a position table (Add of a constant
    [1, T, F]) and a class token (Concat with a constant): each a `param([...])` carrying the
    constant's values, read by the op as a tensor."""
    rng = np.random.default_rng(0)
    scale = rng.standard_normal(4).astype(np.float32)
    table = rng.standard_normal((1, 3, 4)).astype(np.float32)
    token = rng.standard_normal((2, 1, 4)).astype(np.float32)
    proto = _graph([helper.make_node("Mul", ["x", "gamma"], ["a"], name="scale"),
                    helper.make_node("Add", ["a", "pos"], ["b"], name="pos_add"),
                    helper.make_node("Concat", ["cls", "b"], ["y"], name="cat", axis=1)],
                   {"gamma": scale, "pos": table, "cls": token},
                   [_f32("x", [2, 3, 4])], [_f32("y", [2, 4, 4])])
    imported = _same(proto, {"x": rng.standard_normal((2, 3, 4)).astype(np.float32)},
                     ["param", "mul", "param", "add", "param", "concat"])
    assert imported.model.params == 4 + 12 + 8
    assert "param([1, 3, 4]" in imported.text


def test_constant_subgraphs_fold_before_recognition():
    """A foreign graph's computations on constants alone (ConstantOfShape, Range, Expand,
    GatherElements: what BERT's exports build position and type ids with) are evaluated
    first; what is left is an embedding lookup by constant ids, a param."""
    rng = np.random.default_rng(1)
    table = rng.standard_normal((8, 4)).astype(np.float32)
    nodes = [helper.make_node("Range", ["zero", "five", "one"], ["r"], name="range"),
             helper.make_node("Unsqueeze", ["r", "ax0"], ["ids"], name="unsq"),
             helper.make_node("Gather", ["table", "ids"], ["pos"], name="lookup"),
             helper.make_node("ConstantOfShape", ["shape"], ["z"], name="zeros"),
             helper.make_node("Add", ["pos", "z"], ["pz"], name="plus_zeros"),
             helper.make_node("Add", ["x", "pz"], ["y"], name="add")]
    i64 = lambda v: np.array(v, np.int64)
    proto = _graph(nodes, {"table": table, "zero": i64(0), "five": i64(5), "one": i64(1),
                           "ax0": i64([0]), "shape": i64([1, 5, 4])},
                   [_f32("x", [2, 5, 4])], [_f32("y", [2, 5, 4])])
    proto.graph.node[3].attribute.append(
        helper.make_attribute("value", numpy_helper.from_array(np.zeros(1, np.float32))))
    imported = _same(proto, {"x": rng.standard_normal((2, 5, 4)).astype(np.float32)},
                     ["param", "add"])
    assert imported.model.params == 20


def test_equal_initializers_are_not_ties():
    """Two layers whose biases happen to be equal (untrained zeros) keep one bias each: the
    normalisation does not merge equal initializers into a shared weight."""
    torch = pytest.importorskip("torch")
    import io
    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4))
    for layer in (m[0], m[2]):
        torch.nn.init.zeros_(layer.bias)
    f = io.BytesIO()
    torch.onnx.export(m.eval(), torch.randn(2, 4), f, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    imported = import_onnx(onnx.load_from_string(f.getvalue()), "m.onnx")
    assert imported.model.params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cell,layers,bidirectional", [
    ("LSTM", 1, False), ("LSTM", 2, True), ("GRU", 2, False), ("GRU", 1, True),
    ("RNN", 2, False)])
def test_torch_recurrent_exports(cell, layers, bidirectional):
    """torch's own LSTM/GRU/RNN export (TorchScript exporter, batch-first, zero initial state):
    ONNX-layout weights put back into torch's gate order, stacked and bidirectional layers,
    the whole sequence out; the numbers are torch's module's."""
    torch = pytest.importorskip("torch")
    import io
    torch.manual_seed(0)
    rnn = getattr(torch.nn, cell)(3, 5, num_layers=layers, bidirectional=bidirectional,
                                  batch_first=True).eval()

    class Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]
    x = torch.randn(2, 6, 3)
    f = io.BytesIO()
    torch.onnx.export(Seq().eval(), x, f, dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["y"])
    imported = import_onnx(onnx.load_from_string(f.getvalue()), "rnn.onnx")
    assert [n.kind for n in imported.model.nodes] == [cell.lower()], imported.text
    assert imported.model.params == sum(p.numel() for p in rnn.parameters())
    got = _run(imported.model.to_onnx(weights=imported.weights), {"x": x.numpy()})["y"]
    with torch.no_grad():
        want = rnn(x)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_sum_of_two_and_dropout_with_unread_mask():
    """Caffe2's residual join (Sum of two tensors) is `a + b`; a Dropout whose mask nobody
    reads is dropout with its ratio."""
    proto = _graph([helper.make_node("Sum", ["x", "z"], ["s"], name="join"),
                    helper.make_node("Dropout", ["s"], ["y", "mask"], name="drop")], {},
                   [_f32("x", ["N", 4]), _f32("z", ["N", 4])], [_f32("y", ["N", 4])], opset=11)
    proto.graph.node[1].attribute.append(helper.make_attribute("ratio", 0.25))
    rng = np.random.default_rng(2)
    feeds = {k: rng.standard_normal((3, 4)).astype(np.float32) for k in ("x", "z")}
    imported = _same(proto, feeds, ["add", "dropout"])
    assert imported.model.nodes[1].op.p == pytest.approx(0.25)


@pytest.mark.parametrize("size,stride,end,refused", [(14, 2, 1, False), (13, 2, 1, False),
                                                     (9, 1, 2, True)])
def test_maxpool_padded_at_the_end(size, stride, end, refused):
    """Caffe's MaxPool padded at the ends only (Inception v2): ceil_mode where both give the
    same sizes (3x3 stride 2 with one end pad), else (stride 1, two end pads: 9 rows against
    ceil_mode's 7) refused in one line."""
    from dslc.onnx_import import ImportFailure
    pool = helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3],
                            strides=[stride] * 2, pads=[0, 0, end, end])
    proto = _graph([pool], {}, [_f32("x", [1, 2, size, size])], [_f32("y", None)])
    if refused:
        with pytest.raises(ImportFailure, match=r"'pool' \(MaxPool\): its padding differs"):
            import_onnx(proto, "p.onnx")
        return
    x = np.random.default_rng(3).standard_normal((1, 2, size, size)).astype(np.float32)
    imported = _same(proto, {"x": x}, ["maxpool2d"])
    assert imported.model.nodes[0].op.ceil_mode


@pytest.mark.parametrize("op,include,size,k,pads,refused", [
    ("MaxPool", 0, 10, 3, [0, 0, 1, 1], None), ("MaxPool", 0, 9, 3, [1, 1, 1, 1], None),
    ("MaxPool", 0, 8, 2, [0, 0, 1, 1], None),
    ("MaxPool", 0, 6, 7, [0, 0, 2, 2], "it gives 2 where dslc's ceil_mode pool, padded 0 at "
                                       "both ends, gives 1"),
    ("MaxPool", 0, 8, 3, [1, 1, 0, 0], "it gives 4 where"),
    ("AveragePool", 0, 10, 3, [0, 0, 1, 1], None), ("AveragePool", 1, 9, 3, [1, 1, 1, 1], None),
    ("AveragePool", 0, 8, 3, [1, 1, 0, 0], "it gives 4 where"),
    ("AveragePool", 1, 10, 3, [0, 0, 1, 1], "it counts its end padding")])
def test_ceil_mode_pools_of_other_end_pads(op, include, size, k, pads, refused):
    """A ceil_mode pool (stride 2) whose end pads are not the begin pads: imported as dslc's
    ceil_mode pool where onnxruntime's sizes and means are torch's, else refused (they were
    imported with other sizes, or a mean counting the end pad, silently)."""
    from dslc.onnx_import import ImportFailure
    kw = {"count_include_pad": include} if op == "AveragePool" else {}
    pool = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[k, k], strides=[2, 2],
                            pads=pads, ceil_mode=1, **kw)
    proto = _graph([pool], {}, [_f32("x", ["N", 2, size, size])], [_f32("y", None)])
    if refused is not None:
        with pytest.raises(ImportFailure, match=rf"'pool' \({op}\): .*{refused}"):
            import_onnx(proto, "p.onnx")
        return
    x = np.random.default_rng(5).standard_normal((2, 2, size, size)).astype(np.float32)
    _same(proto, {"x": x})


@pytest.mark.parametrize("op,include,ceil,kind", [
    ("AveragePool", 0, 0, "global_avgpool"), ("MaxPool", 0, 0, "global_maxpool"),
    ("AveragePool", 1, 0, None), ("MaxPool", 0, 1, None)])
def test_pool_whose_padded_window_is_the_whole_input(op, include, ceil, kind):
    """Caffe's GoogLeNet (Inception v1): a 7x7 AveragePool padded at the ends of a 6x6 map,
    one window over the whole map, the padding not counted: a global pool. Counting the
    padding (count_include_pad=1), or ceil_mode giving a second window, is refused. (Here
    stride 2 and two end pads: one window without ceil_mode.)"""
    from dslc.onnx_import import ImportFailure
    kw = {"count_include_pad": include} if op == "AveragePool" else {}
    pool = helper.make_node(op, ["x"], ["y"], name="pool", kernel_shape=[7, 7],
                            pads=[0, 0, 2, 2], ceil_mode=ceil, strides=[2, 2], **kw)
    proto = _graph([pool], {}, [_f32("x", ["N", 3, 6, 6])], [_f32("y", None)])
    if kind is None:
        with pytest.raises(ImportFailure, match=rf"'pool' \({op}\): (its padding differs|"
                                                rf"with ceil_mode .* gives 2 where)"):
            import_onnx(proto, "p.onnx")
        return
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 6)).astype(np.float32)
    _same(proto, {"x": x}, [kind])


@pytest.mark.parametrize("target", ["heads", "flat"])
def test_reshape_to_sizes_computed_from_a_symbolic_batch(target):
    """A Reshape whose target is computed from the input's Shape with a symbolic batch N: a
    Slice of the Shape (`N`), the known sizes a Gather picks (folded to constants), and
    arithmetic on them (`N * 6`, written as the spec's size expression)."""
    i64 = lambda v: np.array(v, np.int64)
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape"),
             helper.make_node("Slice", ["s", "zero", "one"], ["n"], name="batch"),
             helper.make_node("Gather", ["s", "one"], ["t"], name="time", axis=0)]
    if target == "heads":       # [N, 6, 4] -> [N, 6 / 2, 8]
        nodes += [helper.make_node("Div", ["t", "two"], ["half"], name="half"),
                  helper.make_node("Concat", ["n", "half", "eight"], ["shape_out"], name="cat",
                                   axis=0)]
        out = [2, 3, 8]
    else:                       # [N, 6, 4] -> [N * 6, 4]
        nodes += [helper.make_node("Mul", ["n", "t"], ["nt"], name="rows"),
                  helper.make_node("Concat", ["nt", "four"], ["shape_out"], name="cat", axis=0)]
        out = [12, 4]
    nodes.append(helper.make_node("Reshape", ["x", "shape_out"], ["y"], name="reshape"))
    proto = _graph(nodes, {"zero": i64([0]), "one": i64([1]), "two": i64([2]),
                           "eight": i64([8]), "four": i64([4])},
                   [_f32("x", ["N", 6, 4])], [_f32("y", None)])
    x = np.random.default_rng(5).standard_normal((2, 6, 4)).astype(np.float32)
    imported = _same(proto, {"x": x}, ["reshape"])
    assert list(_run(proto, {"x": x})["y"].shape) == out
    assert ("reshape(N, 3, 8" if target == "heads" else "reshape((N * 6), 4") in imported.text


def test_zero_state_sized_by_the_batch_is_no_state():
    """The dynamo exporter's LSTM with a symbolic batch: its initial states are a Slice of an
    Expand of 0 to [1, N, H] (N read by a Shape), and a Shape of its merged Y sizes the
    Reshape after it; it imports as an lstm without initial states, with the graph's numbers."""
    rng = np.random.default_rng(6)
    i64 = lambda v: np.array(v, np.int64)
    H, F = 3, 2
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], name="tm", perm=[1, 0, 2]),
             helper.make_node("Shape", ["x"], ["n"], name="batch", start=0, end=1),
             helper.make_node("Concat", ["one", "n", "h"], ["zshape"], name="zs", axis=0),
             helper.make_node("Expand", ["zero", "zshape"], ["zeros"], name="zeros"),
             helper.make_node("Slice", ["zeros", "z0", "one", "z0"], ["h0"], name="h0"),
             helper.make_node("LSTM", ["xt", "W", "R", "B", "", "h0", "h0"], ["y"],
                              name="lstm", hidden_size=H),
             helper.make_node("Transpose", ["y"], ["yt"], name="merge", perm=[0, 2, 1, 3]),
             helper.make_node("Shape", ["yt"], ["ys"], name="ys"),
             helper.make_node("Slice", ["ys", "z0", "two"], ["tn"], name="tn"),
             helper.make_node("Concat", ["tn", "h"], ["flat"], name="fs", axis=0),
             helper.make_node("Reshape", ["yt", "flat"], ["yf"], name="flat"),
             helper.make_node("Transpose", ["yf"], ["out"], name="bf", perm=[1, 0, 2])]
    inits = {"one": i64([1]), "h": i64([H]), "zero": np.array(0, np.float32), "z0": i64([0]),
             "two": i64([2]),
             "W": rng.standard_normal((1, 4 * H, F)).astype(np.float32),
             "R": rng.standard_normal((1, 4 * H, H)).astype(np.float32),
             "B": rng.standard_normal((1, 8 * H)).astype(np.float32)}
    proto = _graph(nodes, inits, [_f32("x", ["N", 5, F])], [_f32("out", None)])
    imported = _same(proto, {"x": rng.standard_normal((2, 5, F)).astype(np.float32)}, ["lstm"])
    assert "initial" not in imported.text


@pytest.mark.parametrize("scale,refused", [(2.0, False), (1.5, True)])
def test_resize_linear_half_pixel(scale, refused):
    """ONNX's half_pixel linear Resize (torch's bilinear as the exporters now write it) is
    torch's bilinear upsample where every output size exceeds 1 (scale 2); a scale of 1.5 on
    sizes the graph does not know could give a size of 1, where the two differ: refused."""
    from dslc.onnx_import import ImportFailure
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", mode="linear",
                            coordinate_transformation_mode="half_pixel")
    proto = _graph([node], {"scales": np.array([1, 1, scale, scale], np.float32)},
                   [_f32("x", ["N", 2, "H", "W"])], [_f32("y", None)], opset=19)
    if refused:
        with pytest.raises(ImportFailure, match=r"'up' \(Resize\): linear half_pixel"):
            import_onnx(proto, "r.onnx")
        return
    x = np.random.default_rng(7).standard_normal((2, 2, 3, 5)).astype(np.float32)
    _same(proto, {"x": x}, ["upsample"])


@pytest.mark.parametrize("mode", ["CRD", "DCR", "symbolic"])
def test_depth_to_space(mode):
    """DepthToSpace (torch's PixelShuffle is CRD) with a symbolic batch: a reshape, a permute
    and a reshape to [N, C / 4, H * 2, W * 2], with the graph's numbers; with symbolic H and W
    too, refused in one line (the ONNX backend computes one size of a reshape at most)."""
    from dslc.onnx_import import ImportFailure
    node = helper.make_node("DepthToSpace", ["x"], ["y"], name="d2s", blocksize=2,
                            mode="CRD" if mode == "symbolic" else mode)
    spatial = ["H", "W"] if mode == "symbolic" else [3, 5]
    proto = _graph([node], {}, [_f32("x", ["N", 8, *spatial])], [_f32("y", None)])
    if mode == "symbolic":
        with pytest.raises(ImportFailure, match=r"'d2s' \(DepthToSpace\): its height and width"):
            import_onnx(proto, "d.onnx")
        return
    x = np.random.default_rng(8).standard_normal((2, 8, 3, 5)).astype(np.float32)
    imported = _same(proto, {"x": x}, ["reshape", "permute", "reshape"])
    assert "reshape(N, 2, 6, 10" in imported.text


@pytest.mark.parametrize("name", ["InstanceNorm2d", "GroupNorm"])
def test_torch_instance_and_group_norm_exports(name):
    """torch.onnx.export (TorchScript exporter) writes both with ONNX InstanceNormalization (a
    GroupNorm as reshape, instance norm of the groups, reshape, per-channel scale and shift):
    they import and compute torch's outputs with the exported weights."""
    import io

    import onnx
    import torch
    module = {"InstanceNorm2d": torch.nn.InstanceNorm2d(4, affine=True),
              "GroupNorm": torch.nn.GroupNorm(2, 4)}[name].eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    x = torch.randn(2, 4, 5, 5)
    f = io.BytesIO()
    torch.onnx.export(module, x, f, dynamo=False, opset_version=17)
    imported = import_onnx(onnx.load_from_string(f.getvalue()), "m.onnx")
    assert "instancenorm" in [n.kind for n in imported.model.nodes]
    got = _run(imported.model.to_onnx(weights=imported.weights), {"x": x.numpy()})
    np.testing.assert_allclose(next(iter(got.values())), module(x).detach().numpy(),
                               rtol=1e-5, atol=1e-5)



@pytest.mark.parametrize("op,axes,keep,kind", [
    ("ReduceMean", [2, 3], 1, "global_avgpool"), ("ReduceMax", [-2, -1], 1, "global_maxpool"),
    ("ReduceMean", [2], 1, "mean"), ("ReduceMean", [2, 3], 0, "mean"),
    ("ReduceMean", [1, 2, 3], 1, "mean")])
def test_spatial_mean_is_a_global_pool(op, axes, keep, kind):
    """torch's `x.mean((2, 3), keepdim=True)` (the dynamo exporter's AdaptiveAvgPool2d(1)) in
    a foreign graph is global_avgpool, a ReduceMax so global_maxpool; other axes, or the
    dims dropped, stay a mean."""
    node = helper.make_node(op, ["x", "axes"], ["y"], name="pool", keepdims=keep)
    proto = _graph([node], {"axes": np.array(axes, np.int64)}, [_f32("x", ["N", 3, 5, 4])],
                   [_f32("y", None)], opset=18)
    x = np.random.default_rng(6).standard_normal((2, 3, 5, 4)).astype(np.float32)
    _same(proto, {"x": x}, [kind])
