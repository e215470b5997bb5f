"""MACs against an independent counter: torch.utils.flop_counter.FlopCounterMode run on dslc's
torch module with the same inputs, per node (the counter keys its counts by submodule, and the
module has one submodule per node at the node's name).

Conventions, and where they differ (each difference has its own test below):
- FlopCounterMode counts 2 FLOPs per multiply-accumulate of mm, addmm, bmm, baddbmm,
  convolution and its transposes, and SDPA; dslc counts MACs. So FLOPs == 2 * MACs, node by
  node. Both leave out bias additions, activations, softmax, norms and pooling.
- torch's CPU SDPA kernel (`_scaled_dot_product_flash_attention_for_cpu`) has no counting rule:
  the counts here run under `sdpa_kernel(SDPBackend.MATH)`, which computes the same attention
  with bmm.
- torch counts 0 for a fused LSTM (`aten.lstm` on CPU): dslc's LSTM is checked against a loop of
  nn.LSTMCell (which torch counts) per layer and direction, as torch's LSTM computes it.
- torch counts 0 for elementwise products, an LSTM's peepholes (dslc counts their 3*H multiplies
  per step: the diagonal weights are weights it multiplies), and for a matrix-vector product
  (aten.mv has no counting rule): dslc counts one MAC per multiply-add of the contraction,
  checked against the same product written as a matrix-matrix one, which torch counts.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import dslc
from specfiles import SPECS, envs, int_ranges
from support import make_inputs
from test_ops_table import ROWS, _model


def _torch_flops(module, xs):
    """{submodule name: FLOPs} and the total, counted by torch on one forward pass."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode
    # Not under no_grad: the attention of torch's MultiheadAttention then takes a fused
    # fast path that the counter's module tracker fails on.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        module(*[torch.from_numpy(x) for x in xs])
    counts = fc.get_flop_counts()
    per = {k.split(".", 1)[1]: sum(v.values()) for k, v in counts.items() if "." in k}
    return per, fc.get_total_flops()


def _value(d, env):
    return d.value if d.is_const() else d.evaluate(env)


def _lstm_cell_macs(n, t, width, op):
    """The MACs torch counts for op's LSTM computed as torch's LSTM does: per layer and
    direction, t steps of nn.LSTMCell on a batch of n; plus the peepholes' 3*H products per
    step (elementwise: torch's counter counts none, dslc counts each multiply)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    h, total = op.hidden_size, 0
    for layer in range(op.layers):
        cell = torch.nn.LSTMCell(width if layer == 0 else op.directions * h, h, bias=op.bias)
        state = (torch.zeros(n, h), torch.zeros(n, h))
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            for _ in range(t):
                state = cell(torch.zeros(n, cell.input_size), state)
        total += op.directions * fc.get_total_flops() // 2
    return total + (op.layers * op.directions * t * n * 3 * h if op.peephole else 0)


def _uncounted(node) -> bool:
    """The contractions torch's counter does not see (see the module's docstring)."""
    return node.kind == "matmul" and any(t.rank == 1 for t in node.in_types)


def _check_nodes(model, env, xs):
    per, total = _torch_flops(model.to_torch().eval(), xs)
    checked = 0
    for node in model.nodes:
        want = _value(node.macs(), env)
        if node.kind == "lstm":
            x = node.in_types[0]
            assert want == _lstm_cell_macs(_value(x.shape[0], env), _value(x.shape[1], env),
                                           x.shape[2].value, node.op), node.name
        elif not _uncounted(node):
            assert 2 * want == per.get(node.name, 0), \
                f"{node.name} ({node.describe()}): dslc {want:,} MACs, torch {per.get(node.name, 0) / 2:,}"
        checked += want > 0
    return checked, total


@pytest.mark.parametrize("snippet, shape", [r[:2] for r in ROWS], ids=[r[0] for r in ROWS])
def test_every_op_table_row_counts_what_torch_counts(snippet, shape):
    """Every row of the op table: the model's MACs == torch's FLOPs / 2 (0 == 0 for the ops with
    no contraction: dslc must not count pooling or norms either)."""
    model = _model(snippet, shape)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    _, total = _torch_flops(model.to_torch().eval(), [x])
    assert 2 * sum(n.macs().value for n in model.nodes) == total


# Small models for the cases the counts get wrong when a rule forgets a factor: grouped,
# depthwise (groups == channels, the 32 channels on 8x8: 18,432 MACs) and
# channel-multiplier convolutions in 1-3 D, transposed ones with groups, attention in all its
# input forms, recurrent layers stacked and bidirectional, contractions with batch axes.
SNIPPETS = {
    "depthwise2d": ("f32[1, 32, 8, 8]", "conv2d(32, 3, padding=1, groups=32)"),
    "multiplier2d": ("f32[2, 4, 9, 11]", "conv2d(12, 3, stride=2, dilation=2, groups=4)"),
    "grouped1d": ("f32[2, 6, 20]", "conv1d(4, 5, groups=2, padding=same)"),
    "depthwise1d": ("f32[2, 5, 17]", "conv1d(10, 3, stride=2, groups=5)"),
    "grouped3d": ("f32[1, 4, 5, 6, 4]", "conv3d(6, 3, padding=1, groups=2)"),
    "transposed_groups": ("f32[1, 6, 5, 4]",
                          "conv_transpose2d(9, 3, stride=2, output_padding=1, groups=3)"),
    "transposed_depthwise": ("f32[2, 4, 7]", "conv_transpose1d(4, 4, stride=3, groups=4)"),
    "transposed3d": ("f32[1, 2, 3, 3, 2]", "conv_transpose3d(4, 2, stride=2, groups=2, dilation=2)"),
    "separable": ("f32[1, 8, 6, 6]", "conv2d(8, 3, padding=1, groups=8) -> conv2d(16, 1)"),
    "self_attention": ("f32[2, 5, 8]", "attention(2)"),
    "causal_gqa": ("f32[2, 6, 8]", "attention(4, kv_heads=2, causal=true)"),
    "gru_stacked_bi": ("f32[3, 4, 5]", "gru(6, layers=2, bidirectional=true)"),
    "rnn_last": ("f32[2, 5, 3]", "rnn(4, layers=3, output=last, bias=false)"),
    "lstm_stacked_bi": ("f32[2, 4, 5]", "lstm(6, layers=2, bidirectional=true, output=last)"),
    "lstm_peephole": ("f32[2, 3, 4]", "lstm(5, peephole=true, layers=2)"),
    "dense3d": ("f32[2, 3, 7]", "dense(5)"),
}

MULTI_INPUT = {
    "cross_attention": """model M {
 input q: f32[2, 5, 8]
 input m: f32[2, 7, 6]
 output y = (q, m) -> attention(2)
}""",
    "qkv_attention": """model M {
 input q: f32[2, 3, 8]
 input k: f32[2, 4, 5]
 input v: f32[2, 4, 7]
 output y = (q, k, v) -> attention(2, kv_heads=1)
}""",
    "sdpa": """model M {
 input q: f32[2, 3, 4, 5]
 input k: f32[2, 3, 6, 5]
 input v: f32[2, 3, 6, 7]
 output y = sdpa(q, k, v)
}""",
    "contractions": """model M {
 input a: f32[2, 3, 4, 5]
 input b: f32[3, 5, 6]
 input v: f32[5]
 output ab = a @ b
 output av = a @ v
 output e = einsum("nhtd,hde->nhte", a, b)
 output dot = einsum("nhtd,nhtd->nhd", a, a)
}""",
}


def _snippet_model(case):
    if case in MULTI_INPUT:
        return dslc.load(MULTI_INPUT[case]).models["M"]
    t, chain = SNIPPETS[case]
    return dslc.load(f"model M {{\n input x: {t}\n output y = x -> {chain}\n}}").models["M"]


@pytest.mark.parametrize("case", list(SNIPPETS) + list(MULTI_INPUT))
def test_macs_per_node_against_torch(case):
    model = _snippet_model(case)
    xs = make_inputs(model, {})
    checked, _ = _check_nodes(model, {}, xs)
    assert checked >= 1


# A sample of the corpus (each builds in well under a second): grouped and depthwise
# convolutions (Xception's separable blocks), transposed ones (the DCGAN generator of the
# seeds), attention (the Set Transformer, the hand-written and the torch-form MHA), recurrent
# layers of every kind, einsum and matmul.
SPEC_SAMPLE = ["seeds/xception.dl", "seeds/transposed.dl", "seeds/inception.dl",
               "ops/convolutions.dl", "ops/linalg.dl", "ops/hand_attention.dl",
               "math/einsum_attention.dl", "sets/set_transformer.dl", "transformer/mha.dl",
               "transformer/char_gpt.dl", "seq/variants.dl", "seq/torch_forms.dl",
               "seq/deep_rnn.dl", "seq/tagger.dl", "extras/recurrent_conv.dl",
               "gan/dcgan.dl:Discriminator"]     # (its 3.6M-parameter generator: the rows)
SPEC_CASES = [(p, name) for entry in SPEC_SAMPLE for p, _, only in [entry.partition(":")]
              for name in re.findall(r"^\s*model\s+(\w+)", (SPECS / p).read_text(), re.M)
              if name == (only or name)]


@pytest.mark.parametrize("path, name", SPEC_CASES, ids=[f"{p}:{n}" for p, n in SPEC_CASES])
def test_spec_macs_per_node_against_torch(path, name):
    model = dslc.load(SPECS / path).models[name]
    env = envs(model, SPECS / path)[0]
    xs = make_inputs(model, env, highs=int_ranges(SPECS / path))
    _check_nodes(model, env, xs)


def test_uncounted_contractions_count_as_the_matmul_torch_counts():
    """The conventions: where torch's counter sees no contraction (mv, a fused LSTM), dslc's
    count equals that of the same contraction as an mm."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    model = _snippet_model("contractions")
    nodes = {n.name: n for n in model.nodes}
    a, v = torch.randn(2, 3, 4, 5), torch.randn(5)

    def flops(f):
        with FlopCounterMode(display=False) as fc:
            f()
        return fc.get_total_flops()

    mv = next(n for n in nodes.values() if n.kind == "matmul" and n.in_types[1].rank == 1)
    assert flops(lambda: a @ v) == 0
    assert 2 * mv.macs().value == flops(lambda: a @ v[:, None])
    lstm = torch.nn.LSTM(5, 6, batch_first=True)
    assert flops(lambda: lstm(torch.randn(2, 4, 5))) == 0


def test_depthwise_counts_one_input_channel_per_output():
    """The issue's case by hand as well: 32 channels of 8x8, 3x3 depthwise, padding 1:
    8*8 outputs * 32 channels * 9 taps; the grouped count of a conv with groups=1 would be 32x."""
    model = _snippet_model("depthwise2d")
    (node,) = model.nodes
    assert node.macs().value == 8 * 8 * 32 * 9
