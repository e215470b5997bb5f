"""`--fuse` (issue 10, item 5): self-attention emitted as onnxruntime's contrib
com.microsoft.Attention (packed projection, heads, causal and padding masks, softmax in one
node). The oracle is torch's nn.MultiheadAttention with the same weights; the forms the fused
operator does not cover (cross-attention, rotary, grouped-query heads) keep the standard
lowering, and the graph's metadata says how many were fused."""
from __future__ import annotations

import numpy as np
import pytest

import dslc
from specfiles import ROOT
from support import cli, random_weights

ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402


def _model(body: str, inputs: str):
    return dslc.load(f"model M {{\n {inputs}\n {body}\n}}").model()


def _run(proto, feeds):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _fused(proto) -> tuple[int, str]:
    kinds = [n.op_type for n in proto.graph.node if n.domain == "com.microsoft"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert set(kinds) <= {"Attention"}
    return len(kinds), props["dslc.fused"]


@pytest.mark.parametrize("opts, masked, causal", [
    ("", False, False), ("causal=true", False, True), ("key_padding_mask=pad", True, False),
    ("causal=true, key_padding_mask=pad, bias=false", True, True)])
def test_fused_self_attention_equals_multihead_attention(opts, masked, causal):
    inputs = "input x: f32[N, T, 8]" + ("\n input pad: bool[N, T]" if masked else "")
    m = _model(f"output y = x -> attention(2{', ' + opts if opts else ''}, name=att)", inputs)
    w = random_weights(m)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 8)).astype(np.float32)
    pad = np.arange(6)[None, :] >= np.array([6, 4, 1, 6])[:, None]     # true = padding
    ref = nn.MultiheadAttention(8, 2, batch_first=True, bias="bias=false" not in opts)
    ref.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in w.items()})
    with torch.no_grad():
        want, _ = ref.eval()(*(torch.from_numpy(x),) * 3, need_weights=False,
                             key_padding_mask=torch.from_numpy(pad) if masked else None,
                             attn_mask=torch.ones(6, 6, dtype=torch.bool).triu(1) if causal else None)
    proto = m.to_onnx(weights=w, fuse=True)
    assert _fused(proto) == (1, "attention 1 of 1")
    feeds = {"x": x, **({"pad": pad} if masked else {})}
    got = _run(proto, feeds)[0]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=2e-5)
    if masked or causal:        # the masks change the answer: the fused node applies them
        free, _ = ref(*(torch.from_numpy(x),) * 3, need_weights=False)
        assert np.abs(free.detach().numpy() - got).max() > 1e-3


def test_gpt_block_fused_equals_the_torch_module():
    """CharGPT (causal, pre-norm, two blocks): both attentions fused; the torch module with
    the same weights is the oracle."""
    m = dslc.load(ROOT / "specs" / "transformer" / "char_gpt.dl").models["CharGPT"]
    w = random_weights(m)
    ids = np.random.default_rng(1).integers(0, 30, (3, 17)).astype(np.int64)
    proto = m.to_onnx(weights=w, fuse=True)
    assert _fused(proto) == (2, "attention 2 of 2")
    with torch.no_grad():
        want = m.to_torch(weights=w).eval()(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(_run(proto, {"chars": ids})[0], want, rtol=1e-4, atol=1e-4)


def test_forms_it_does_not_cover_keep_the_standard_lowering():
    """torch.nn.Transformer's decoder: the cross-attention (query and memory differ) is not
    fused, the self-attentions are; the graph still computes the torch module's output."""
    text = (ROOT / "specs" / "transformer" / "transformer.dl").read_text()
    text = text.replace("* 6", "* 1")                # one layer of each: the forms, not the size
    m = dslc.load(text).models["Transformer"]
    w = random_weights(m)
    rng = np.random.default_rng(2)
    src, tgt = (rng.standard_normal((2, t, 512)).astype(np.float32) for t in (5, 4))
    proto = m.to_onnx(weights=w, fuse=True)
    assert _fused(proto) == (2, "attention 2 of 3")
    with torch.no_grad():
        want = m.to_torch(weights=w).eval()(torch.from_numpy(src), torch.from_numpy(tgt)).numpy()
    np.testing.assert_allclose(_run(proto, {"src": src, "tgt": tgt})[0], want, rtol=1e-4, atol=1e-4)


def test_half_precision_model_fuses_its_f32_attention():
    """attention is precise: an f16 model computes it in f32 between Casts, fused there."""
    m = dslc.load(ROOT / "specs" / "transformer" / "char_gpt.dl").models["CharGPT"]
    w = random_weights(m)
    ids = np.random.default_rng(1).integers(0, 30, (2, 9)).astype(np.int64)
    half = m.to_onnx(weights=w, fuse=True, dtype="f16")
    assert _fused(half)[0] == 2
    full = _run(m.to_onnx(weights=w), {"chars": ids})[0]
    np.testing.assert_allclose(_run(half, {"chars": ids})[0].astype(np.float32), full,
                               rtol=0.05, atol=0.05)


def test_cli_compile_and_run_fuse(capsys, tmp_path):
    spec = ROOT / "specs" / "transformer" / "char_gpt.dl"
    code, text, err = cli(capsys, "compile", spec, "--target", "onnx", "--fuse", "-o",
                          tmp_path / "g.onnx")
    assert code == 0 and "fused: attention 2 of 2" in text, err
    code, text, err = cli(capsys, "compile", ROOT / "specs" / "seeds" / "mlp.dl", "--target",
                          "onnx", "--fuse", "-o", tmp_path / "m.onnx")
    assert code == 0 and "fused: nothing to fuse" in text, err
    code, text, err = cli(capsys, "run", spec, "--fuse", "--dim", "T=8", "--repeat", "1")
    assert code == 0 and "output logits: float32[1, 8, 30]" in text, err
    for args in (["compile", spec, "--target", "torch", "--fuse"], ["run", tmp_path / "g.onnx", "--fuse"]):
        code, _, err = cli(capsys, *args)
        assert code == 2 and "--fuse" in err and err.count("\n") == 1
