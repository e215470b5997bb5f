"""Option combinations by construction, gradients, default init.

- Pooling: the cross product of kernel, stride, padding, dilation and ceil_mode (maxpool) and of
  kernel, stride, padding, ceil_mode and count_include_pad (avgpool), at lengths where ceil_mode's
  last window starts inside the right padding (torch drops it, ONNX keeps it); all in one model
  per kind, every backend (torch, torch-src, onnxruntime) against torch's own nn.MaxPool /
  nn.AvgPool module.
- rnn/gru/lstm: layers x bidirectional x output (sequence, last) x lengths, every backend
  against torch's nn.RNN/GRU/LSTM holding the layer's weights (packed sequences for lengths;
  output=last is the last layer's final states, both directions).
- Gradients: one backward pass through dslc's torch module against torch's own module with the
  same weights (input and parameter gradients); embedding's padding row gets none.
- The importer: ConvTranspose (group x strides x pads x output_padding), AveragePool (pads x
  ceil_mode x count_include_pad absent, 0 or 1) and MaxPool (pads x dilations x ceil_mode, and
  pads at the ends only) nodes imported and compiled back, against onnxruntime on the original graph.
- Default init: the statistics of dslc's weights against torch's own default init for layers
  whose input and output widths differ (conv_transpose with in != out, groups)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import dslc
from support import random_weights, run_ort, run_torch, run_torch_src


# ---- pooling ----
# With ceil_mode, the last window of torch's rule may start inside the right padding: torch
# drops it (ONNX would keep it). Lengths 7 and 8 with these products reach that corner in 2 and
# 3 combinations of each kind (counted in the test, so that a change of the product notices).
MAX_COMBOS = [dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=c)
              for k, s, p, d, c in itertools.product((2, 3), (2, 3), (0, 1), (1, 2), (False, True))
              if p <= ((k - 1) * d + 1) // 2]
AVG_COMBOS = [dict(kernel_size=k, stride=s, padding=p, ceil_mode=c, count_include_pad=i)
              for k, s, p, c, i in itertools.product((2, 3), (2, 3), (0, 1), (False, True),
                                                     (False, True))
              if p <= k // 2]


def _spec_args(kw):
    return ", ".join([str(kw["kernel_size"])] + [f"{k}={str(v).lower()}" for k, v in kw.items()
                                                  if k != "kernel_size"])


def _pool_model(kind, combos, inp):
    lines = [f"    output y{i} = x -> {kind}({_spec_args(kw)})" for i, kw in enumerate(combos)]
    return dslc.load("model P {\n    input x: " + inp + "\n" + "\n".join(lines) + "\n}").models["P"]


POOL_CASES = [("maxpool1d", MAX_COMBOS, (2, 3, 7)), ("maxpool1d", MAX_COMBOS, (1, 2, 8)),
              ("avgpool1d", AVG_COMBOS, (2, 3, 7)), ("avgpool1d", AVG_COMBOS, (1, 2, 8)),
              ("maxpool2d", MAX_COMBOS, (1, 2, 7, 8)), ("avgpool2d", AVG_COMBOS, (1, 2, 8, 7))]


@pytest.mark.parametrize("kind, combos, shape", POOL_CASES,
                         ids=[f"{k}-{'x'.join(map(str, s))}" for k, _, s in POOL_CASES])
def test_pool_option_products_against_torch(kind, combos, shape):
    import torch
    inp = f"f32[{', '.join(map(str, shape))}]"
    model = _pool_model(kind, combos, inp)
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    ref = {"maxpool1d": torch.nn.MaxPool1d, "avgpool1d": torch.nn.AvgPool1d,
           "maxpool2d": torch.nn.MaxPool2d, "avgpool2d": torch.nn.AvgPool2d}[kind]
    outs = {"torch": run_torch(model, {}, [x]), "torch-src": run_torch_src(model, {}, [x]),
            "onnxruntime": run_ort(model, {}, [x])[0]}
    dropped = 0
    for i, kw in enumerate(combos):
        with torch.no_grad():
            want = ref(**kw)(torch.from_numpy(x)).numpy()
        ir = tuple(d.value for d in model.outputs[i].type.shape)
        assert ir == want.shape, f"{kind}({kw}): IR {ir}, torch {want.shape}"
        for backend, got in outs.items():
            np.testing.assert_allclose(got[i], want, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{backend}: {kind}({_spec_args(kw)}) on {shape}")
        # count the combinations whose ceil_mode window would start in the padding (torch's
        # rule drops it): the product must reach that corner
        if kw["ceil_mode"]:
            k_eff = (kw["kernel_size"] - 1) * kw.get("dilation", 1) + 1
            size, p, s = shape[-1], kw["padding"], kw["stride"]
            n = -(-(size + 2 * p - k_eff) // s) + 1
            dropped += (n - 1) * s >= size + p
    assert dropped, "no combination reached a last window starting in the padding"


# ---- recurrent layers ----
def _rnn_model(kind):
    outs = []
    for i, (layers, bi, output, lengths) in enumerate(itertools.product(
            (1, 2), (False, True), ("sequence", "last"), (False, True))):
        extra = ", lengths=lengths" if lengths else ""
        outs.append(f"    output y{i} = x -> {kind}(5, layers={layers}, "
                    f"bidirectional={str(bi).lower()}, output={output}{extra}, name=r{i})")
    text = ("model R {\n    input x: f32[3, 6, 4]\n    input lengths: i64[3]\n" +
            "\n".join(outs) + "\n}")
    return dslc.load(text).models["R"]


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_recurrent_option_products_against_torch(kind):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    model = _rnn_model(kind)
    weights = random_weights(model)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    lengths = np.array([6, 2, 4], dtype=np.int64)
    outs = {"torch": run_torch(model, weights, [x, lengths]),
            "torch-src": run_torch_src(model, weights, [x, lengths]),
            "onnxruntime": run_ort(model, weights, [x, lengths])[0]}
    for i, node in enumerate(model.nodes):
        op = node.op
        ref = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind](
            4, 5, op.layers, bidirectional=op.bidirectional, batch_first=True)
        ref.load_state_dict({k.split(".", 1)[1]: torch.from_numpy(v) for k, v in weights.items()
                             if k.startswith(node.name + ".")})
        xt = torch.from_numpy(x)
        with torch.no_grad():
            if op.lengths:
                packed = pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True,
                                              enforce_sorted=False)
                seq, state = ref(packed)
                seq = pad_packed_sequence(seq, batch_first=True, total_length=6)[0]
            else:
                seq, state = ref(xt)
        h = state[0] if kind == "lstm" else state
        want = seq if op.output == "sequence" else \
            h[-op.directions:].permute(1, 0, 2).reshape(3, -1)
        for backend, got in outs.items():
            np.testing.assert_allclose(got[i], want.numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=f"{backend}: {node.describe()}")


# ---- gradients ----
def _first(m, x):
    return m(x)[0]


GRAD_ROWS = [
    ("dense(5)", (3, 7), lambda nn: nn.Linear(7, 5)),
    ("conv2d(6, 3, stride=2, padding=1, groups=3)", (2, 3, 7, 6),
     lambda nn: nn.Conv2d(3, 6, 3, 2, 1, groups=3)),
    ("conv_transpose2d(4, 3, stride=2, padding=1, output_padding=1, groups=2)", (2, 6, 4, 5),
     lambda nn: nn.ConvTranspose2d(6, 4, 3, 2, 1, 1, groups=2)),
    ("conv1d(4, 3, dilation=2)", (2, 2, 11), lambda nn: nn.Conv1d(2, 4, 3, dilation=2)),
    ("batchnorm", (4, 3, 5, 5), lambda nn: nn.BatchNorm2d(3)),
    ("layernorm", (2, 3, 6), lambda nn: nn.LayerNorm(6)),
    ("groupnorm(2)", (2, 4, 3, 3), lambda nn: nn.GroupNorm(2, 4)),
    ("prelu(3)", (2, 3, 4), lambda nn: nn.PReLU(3)),
    ("lstm(5, layers=2, bidirectional=true)", (2, 4, 3),
     lambda nn: _wrapped(nn.LSTM(3, 5, 2, bidirectional=True, batch_first=True), _first)),
    ("gru(4, bias=false)", (2, 5, 3),
     lambda nn: _wrapped(nn.GRU(3, 4, bias=False, batch_first=True), _first)),
    ("attention(2)", (2, 4, 6), lambda nn: _wrapped(nn.MultiheadAttention(6, 2, batch_first=True),
                                                    lambda m, x: m(x, x, x, need_weights=False)[0])),
]


def _wrapped(inner, call):
    """torch's module `inner` as a one-input module returning one tensor: `call(inner, x)`."""
    import torch.nn as nn

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return call(self.inner, x)
    return Wrapped()


def _local(key: str, local: dict) -> str | None:
    """dslc's local name for torch's state_dict key (`mha.out_proj.weight` -> `out_proj.weight`,
    `rnn.weight_ih_l0` -> `weight_ih_l0`): the longest local name ending the key."""
    hits = [k for k in local if key == k or key.endswith("." + k)]
    return max(hits, key=len) if hits else None


@pytest.mark.parametrize("snippet, shape, ref", GRAD_ROWS, ids=[r[0] for r in GRAD_ROWS])
def test_gradients_match_torchs_module(snippet, shape, ref):
    """Training mode, one backward of sum(y * g) for a fixed random g: the input's gradient and
    every parameter's equal those through torch's module with the same weights."""
    import torch
    dims = ", ".join(map(str, shape))
    model = dslc.load(f"model M {{\n input x: f32[{dims}]\n output y = x -> {snippet}\n}}").models["M"]
    weights = random_weights(model)
    (node,) = model.nodes
    mine = model.to_torch(weights=weights).train()
    theirs = ref(torch.nn).train()
    local = {k.split(".", 1)[1]: v for k, v in weights.items()}
    state = theirs.state_dict()
    theirs.load_state_dict({k: torch.from_numpy(local[_local(k, local)]) if _local(k, local)
                            else state[k] for k in state})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    grads = []
    for module in (mine, theirs):
        xt = torch.from_numpy(x).requires_grad_(True)
        y = module(xt)
        g = torch.from_numpy(rng.standard_normal(tuple(y.shape)).astype(np.float32)) \
            if not grads else grads[0][2]
        (y * g).sum().backward()
        named = {_local(k, local): p.grad for k, p in module.named_parameters()}
        grads.append((xt.grad, named, g))
    (gx_a, gp_a, _), (gx_b, gp_b, _) = grads
    np.testing.assert_allclose(gx_a.numpy(), gx_b.numpy(), rtol=1e-4, atol=1e-5)
    assert set(gp_a) == set(gp_b), (sorted(gp_a), sorted(gp_b))
    for k in gp_a:
        np.testing.assert_allclose(gp_a[k].numpy(), gp_b[k].numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{snippet}: the gradient of {k}")


def test_embedding_padding_row_gets_no_gradient():
    """padding_idx: its row is never updated (torch's rule); the other rows used get the sum of
    the output gradients at their positions, as torch's nn.Embedding computes them."""
    import torch
    model = dslc.load("model E {\n input ids: i64[2, 5]\n output y = ids -> "
                      "embedding(7, 3, padding_idx=2)\n}").models["E"]
    weights = random_weights(model)
    module = model.to_torch(weights=weights).train()
    ids = torch.tensor([[2, 1, 2, 4, 0], [4, 2, 6, 1, 2]])
    g = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    (module(ids) * g).sum().backward()
    (w,) = module.parameters()
    ref = torch.nn.Embedding(7, 3, padding_idx=2)
    ref.weight.data = torch.from_numpy(next(iter(weights.values())))
    (ref(ids) * g).sum().backward()
    assert not w.grad[2].any()
    assert w.grad[1].abs().sum() > 0
    np.testing.assert_allclose(w.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-6, atol=1e-7)


# ---- default init ----
INIT_ROWS = [
    ("conv_transpose2d(16, 3)", (1, 64, 4, 4), lambda nn: nn.ConvTranspose2d(64, 16, 3)),
    ("conv_transpose2d(96, 3)", (1, 8, 4, 4), lambda nn: nn.ConvTranspose2d(8, 96, 3)),
    ("conv_transpose1d(48, 5, groups=4)", (1, 16, 6), lambda nn: nn.ConvTranspose1d(16, 48, 5, groups=4)),
    ("conv_transpose3d(8, 2)", (1, 40, 2, 2, 2), lambda nn: nn.ConvTranspose3d(40, 8, 2)),
    ("conv2d(96, 3, groups=4)", (1, 8, 5, 5), lambda nn: nn.Conv2d(8, 96, 3, groups=4)),
    ("dense(700)", (1, 30), lambda nn: nn.Linear(30, 700)),
    ("lstm(40)", (1, 2, 7), lambda nn: nn.LSTM(7, 40)),
]


@pytest.mark.parametrize("snippet, shape, ref", INIT_ROWS, ids=[r[0] for r in INIT_ROWS])
def test_default_init_statistics_are_torchs(snippet, shape, ref):
    """Each parameter's std and largest magnitude against torch's own default init of the same
    layer (drawn by torch, several thousand values per tensor; 10% tolerance on the std, the
    bound within 5%)."""
    import torch
    dims = ", ".join(map(str, shape))
    model = dslc.load(f"model M {{\n input x: f32[{dims}]\n output y = x -> {snippet}\n}}").models["M"]
    mine = {k.split(".", 1)[1]: v for k, v in model.weights(seed=1).items()}
    torch.manual_seed(0)
    theirs = {k: v.detach().numpy() for k, v in ref(torch.nn).named_parameters()}
    assert set(mine) == set(theirs)
    for k, want in theirs.items():
        got = mine[k]
        assert got.shape == want.shape, k
        # tensors of few values (a bias of 16): their largest draw is far from the bound
        tol = 0.1 if want.size >= 1000 else 0.35
        assert abs(got.std() - want.std()) <= tol * want.std(), (k, got.std(), want.std())
        assert abs(np.abs(got).max() - np.abs(want).max()) <= max(0.05, tol) * np.abs(want).max(), k


# ---- the importer: option products of the ONNX forms, against onnxruntime on the original ----
def _onnx_case(op, attrs, x_shape, w_shape=None):
    from onnx import TensorProto, helper
    ins = ["x"] + (["w", "b"] if w_shape else [])
    inits = {}
    if w_shape:
        rng = np.random.default_rng(sum(w_shape))
        inits = {"w": rng.standard_normal(w_shape).astype(np.float32) * 0.3,
                 "b": rng.standard_normal(w_shape[1] * attrs.get("group", 1)).astype(np.float32)}
    node = helper.make_node(op, ins, ["y"], name="n", **attrs)
    return node, inits, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))]


IMPORT_CASES = (
    [("ConvTranspose", dict(group=g, strides=[s, s], pads=[p, p, p, p], output_padding=[o, o]),
      (1, 4, 5, 4), (4, 6 // g, 3, 3))
     for g, s, p, o in itertools.product((1, 2), (1, 2), (0, 1), (0, 1)) if o < s] +
    [("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[p, p, p, p], ceil_mode=c,
                          **({} if i is None else {"count_include_pad": i})), (1, 2, 7, 6), None)
     for p, c, i in itertools.product((0, 1), (0, 1), (None, 0, 1))] +
    [("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 2], pads=[p, 0, p, 0], dilations=[d, 1],
                      ceil_mode=c), (1, 2, 9, 6), None)
     for p, d, c in itertools.product((0, 1), (1, 2), (0, 1))] +
    # padded at the ends only (Caffe's ceil): read as ceil_mode where the sizes agree
    [("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1]), (1, 2, h, h), None)
     for h in (6, 7)])


@pytest.mark.parametrize("op, attrs, x_shape, w_shape", IMPORT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(IMPORT_CASES)])
def test_import_option_products_against_onnxruntime(op, attrs, x_shape, w_shape):
    """`dslc import` of one node with its attributes (group, output_padding, count_include_pad
    absent or given, ceil_mode, dilations), compiled back to ONNX with the imported weights,
    computes what onnxruntime computes on the original graph."""
    from onnx import TensorProto, helper, numpy_helper
    from dslc.onnx_import import import_onnx
    import onnxruntime as ort
    node, inits, ins = _onnx_case(op, attrs, x_shape, w_shape)
    graph = helper.make_graph([node], "G", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(1).standard_normal(x_shape).astype(np.float32)

    def run(p):
        s = ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {"x": x})[0]
    imported = import_onnx(proto, "g.onnx")
    want = run(proto)
    got = run(imported.model.to_onnx(weights=imported.weights))
    assert got.shape == want.shape, imported.text
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=imported.text)
