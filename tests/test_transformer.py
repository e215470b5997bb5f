"""Transformers reproduce their reference implementations, not just their counts: torch's own
nn.TransformerEncoderLayer and Hugging Face's GPT2Model and BertModel (default configs,
random weights, nothing downloaded) are copied into dslc's module by a name map and must give
the same outputs, in torch and through dslc's ONNX graph on onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from specfiles import ROOT
from support import make_inputs, run_ort, random_weights

SPECS = ROOT / "specs" / "transformer"


def _both(model, weights, xs):
    """dslc's torch module and its ONNX graph on the same weights and inputs."""
    module = model.to_torch(weights=weights).eval()
    with torch.no_grad():
        t = module(*[torch.from_numpy(x) for x in xs])
    t = [o.numpy() for o in (t if isinstance(t, tuple) else (t,))]
    return t, run_ort(model, weights, xs)[0]


def _close(a, b, atol=1e-4):
    assert a.shape == b.shape and float(np.abs(a - b).max()) <= atol, float(np.abs(a - b).max())


def test_torch_encoder_layer():
    model = dslc.load(SPECS / "encoder_layer.dl").models["EncoderLayer"]
    ref = torch.nn.TransformerEncoderLayer(512, 8, 2048, batch_first=True).eval()
    weights = {f"layer.{k}": v for k, v in ref.state_dict().items()}
    assert set(weights) == set(model.param_shapes())
    x = np.random.default_rng(0).standard_normal((2, 7, 512)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    t, o = _both(model, weights, [x])
    _close(t[0], want)
    _close(o[0], want)


def _gpt2_weights(hf, model) -> dict:
    """Hugging Face GPT-2 -> dslc names. HF's Conv1D stores [in, out]: transposed here."""
    sd = hf.state_dict()
    out = {"wte.weight": sd["wte.weight"], "wpe.weight": sd["wpe.weight"],
           "ln_f.weight": sd["ln_f.weight"], "ln_f.bias": sd["ln_f.bias"]}
    for i in range(hf.config.n_layer):
        h, d = f"h.{i}.", f"h.{i}."
        for ln in ("ln_1", "ln_2"):
            out[d + f"{ln}.weight"], out[d + f"{ln}.bias"] = sd[h + f"{ln}.weight"], sd[h + f"{ln}.bias"]
        out[d + "attn.in_proj_weight"] = sd[h + "attn.c_attn.weight"].T
        out[d + "attn.in_proj_bias"] = sd[h + "attn.c_attn.bias"]
        out[d + "attn.out_proj.weight"] = sd[h + "attn.c_proj.weight"].T
        out[d + "attn.out_proj.bias"] = sd[h + "attn.c_proj.bias"]
        for name, src in (("c_fc", "mlp.c_fc"), ("c_proj", "mlp.c_proj")):
            out[d + f"{name}.weight"], out[d + f"{name}.bias"] = sd[h + f"{src}.weight"].T, sd[h + f"{src}.bias"]
    assert set(out) == set(model.param_shapes())
    return out


def test_gpt2_reproduces_hugging_face():
    import transformers      # a test dependency (the [test] extra): missing, the test fails
    torch.manual_seed(0)
    hf = transformers.GPT2Model(transformers.GPT2Config()).eval()
    model = dslc.load(SPECS / "gpt2.dl").models["GPT2"]
    assert sum(p.numel() for p in hf.parameters()) == model.params
    weights = _gpt2_weights(hf, model)
    ids = np.random.default_rng(0).integers(0, 50257, size=(2, 6)).astype(np.int64)
    with torch.no_grad():
        want = hf(input_ids=torch.from_numpy(ids)).last_hidden_state.numpy()
    t, o = _both(model, weights, [ids])
    _close(t[0], want)
    _close(o[0], want)
    _close(t[1], want @ weights["wte.weight"].numpy().T, atol=1e-3)      # the tied head


def _bert_weights(hf, model) -> dict:
    sd = hf.state_dict()
    e = "embeddings."
    out = {"word_embeddings.weight": sd[e + "word_embeddings.weight"],
           "position_embeddings.weight": sd[e + "position_embeddings.weight"],
           "token_type_embeddings.weight": sd[e + "token_type_embeddings.weight"],
           "embeddings_norm.weight": sd[e + "LayerNorm.weight"], "embeddings_norm.bias": sd[e + "LayerNorm.bias"],
           "pooler.weight": sd["pooler.dense.weight"], "pooler.bias": sd["pooler.dense.bias"]}
    for i in range(hf.config.num_hidden_layers):
        h, d = f"encoder.layer.{i}.", f"layer.{i}."
        a = h + "attention.self."
        out[d + "attention.in_proj_weight"] = torch.cat([sd[a + f"{c}.weight"] for c in ("query", "key", "value")])
        out[d + "attention.in_proj_bias"] = torch.cat([sd[a + f"{c}.bias"] for c in ("query", "key", "value")])
        pairs = {"attention.out_proj": "attention.output.dense", "attention_norm": "attention.output.LayerNorm",
                 "intermediate": "intermediate.dense", "output": "output.dense", "output_norm": "output.LayerNorm"}
        for mine, theirs in pairs.items():
            out[d + f"{mine}.weight"], out[d + f"{mine}.bias"] = sd[h + f"{theirs}.weight"], sd[h + f"{theirs}.bias"]
    assert set(out) == set(model.param_shapes())
    return out


def test_bert_reproduces_hugging_face():
    import transformers      # a test dependency (the [test] extra): missing, the test fails
    torch.manual_seed(0)
    hf = transformers.BertModel(transformers.BertConfig()).eval()
    model = dslc.load(SPECS / "bert.dl").models["BERT"]
    assert sum(p.numel() for p in hf.parameters()) == model.params
    weights = _bert_weights(hf, model)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 30522, size=(2, 8)).astype(np.int64)
    types = rng.integers(0, 2, size=(2, 8)).astype(np.int64)
    with torch.no_grad():
        ref = hf(input_ids=torch.from_numpy(ids), token_type_ids=torch.from_numpy(types))
    t, o = _both(model, weights, [ids, types])
    for got in (t, o):
        _close(got[0], ref.last_hidden_state.numpy())
        _close(got[1], ref.pooler_output.numpy())


def test_tied_head_is_one_tensor():
    model = dslc.load(SPECS / "gpt2.dl").models["GPT2"]
    assert "lm_head.weight" not in model.param_shapes()
    small = dslc.load("""
    model Tiny { input ids: i64[N, T]
                 h = ids -> embedding(40, 8, name=wte)
                 output logits = h -> dense(40, bias=false, tie=wte) }""").models["Tiny"]
    module = small.to_torch()
    assert module.get_submodule("dense_1").weight is module.wte.weight
    assert sum(p.numel() for p in module.parameters()) == small.params == 320
    inits = [t.name for t in small.to_onnx().graph.initializer]
    assert inits.count("wte.weight") == 1 and len(inits) == 1
    opt = torch.optim.SGD(module.parameters(), lr=1.0)
    module(torch.zeros(1, 3, dtype=torch.long)).sum().backward()
    before = module.wte.weight.clone()
    opt.step()
    assert not torch.equal(before, module.wte.weight)         # both uses train the one tensor
    w = random_weights(small)
    xs = make_inputs(small, {"N": 2, "T": 3})
    t, o = _both(small, w, xs)
    _close(t[0], o[0], atol=1e-5)


@pytest.mark.parametrize("body, code, fragment", [
    ("x -> attention(5)", "E305", "5 heads do not divide the width 64"),
    ("x -> attention(8, kv_heads=3)", "E305", "kv_heads=3"),
    ("x -> attention(4, key_padding_mask=x)", "E306", "key_padding_mask"),
    ("x -> dense(64, tie=nowhere)", "E201", "no layer named `nowhere`"),
    ("x -> dense(3, name=a) -> dense(5, tie=a)", "E302", "tie"),
])
def test_attention_errors_are_located(body, code, fragment):
    p = dslc.check_text(f"model M {{ input x: f32[N, T, 64]\n output y = {body} }}")
    assert [d.code for d in p.errors] == [code] and fragment in p.errors[0].message
    assert p.errors[0].span.line == 2


def test_attention_op_equals_attention_written_by_hand():
    hand = dslc.load(ROOT / "specs" / "ops" / "hand_attention.dl").models["HandAttention"]
    op = dslc.load("model M { input x: f32[N, T, 32]\n output y = x -> attention(4, causal=true) }").models["M"]
    w = random_weights(op)
    wq, wk, wv = np.split(w["attention_1.in_proj_weight"], 3)
    bq, bk, bv = np.split(w["attention_1.in_proj_bias"], 3)
    mapped = {"Heads_1.dense_1.weight": wq, "Heads_1.dense_1.bias": bq,
              "Heads_2.dense_1.weight": wk, "Heads_2.dense_1.bias": bk,
              "Heads_3.dense_1.weight": wv, "Heads_3.dense_1.bias": bv,
              "dense_1.weight": w["attention_1.out_proj.weight"], "dense_1.bias": w["attention_1.out_proj.bias"]}
    assert set(mapped) == set(hand.param_shapes())
    x = np.random.default_rng(2).standard_normal((2, 6, 32)).astype(np.float32)
    want, _ = _both(op, w, [x])
    for got in _both(hand, mapped, [x]):
        _close(got[0], want[0], atol=1e-5)


def test_siamese_towers_share_one_set_of_weights():
    model = dslc.load(ROOT / "specs" / "ops" / "siamese.dl").models["Siamese"]
    assert not any(k.startswith("Tower_") for k in model.param_shapes())
    module = model.to_torch()
    assert module.get_submodule("Tower_1.dense_1").weight is module.get_submodule("tower.dense_1").weight
    x = torch.randn(3, 784)
    with torch.no_grad():
        a = module.get_submodule("tower.dense_2")(torch.relu(module.get_submodule("tower.dense_1")(x)))
        b = module.get_submodule("Tower_1.dense_2")(torch.relu(module.get_submodule("Tower_1.dense_1")(x)))
    assert torch.equal(a, b)
    inits = [t.name for t in model.to_onnx().graph.initializer]
    assert len(inits) == len(set(inits)) == 6


def test_tie_to_a_missing_block_call():
    p = dslc.check_text("""block T(x: [N, 4]) { return x -> dense(2) }
    model M { input x: f32[N, 4]
              output y = x -> T(tie=nowhere) }""")
    assert [d.code for d in p.errors] == ["E201"] and "no block call named `nowhere`" in p.errors[0].message


def test_sdpa_macs_count_both_products():
    """q k^T is Tq*Tk*d multiply-adds per head and the weighted sum of v Tq*Tk*dv."""
    m = dslc.check_text("""model M {
        input q: f32[N, 4, 10, 8]
        input k: f32[N, 4, 12, 8]
        input v: f32[N, 4, 12, 16]
        output y = sdpa(q, k, v)
    }""").models["M"]
    assert str(m.nodes[0].macs()) == f"{4 * 10 * 12 * (8 + 16)}*N"
