"""`dslc import` on graphs nobody here wrote (issue 22, item 6): tiny models built in this
process (plain torch modules, and Hugging Face `transformers` models from small configs with
random weights: nothing is downloaded), each exported with both of torch's exporters
(`torch.onnx.export(..., dynamo=False, opset_version=17)`, the TorchScript one, and
`dynamo=True`), imported with dslc, compiled again from the imported spec with the imported
weights, and run on onnxruntime beside the exported graph on the same inputs. A graph
round-trips when every output agrees within 1e-5 relative to the output's largest magnitude.
Prints one row per graph and the round-trip rate; the oracle is the exported graph itself
(torch's numbers as its exporter wrote them), never dslc.

Run: python benchmarks/import_corpus.py [--fast] [--only NAME,...] [--exporter ts|dynamo]
     [--quiet]     (--fast: the subset tests/test_import_corpus.py runs, a few seconds)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

if not os.environ.get("PYTHONPATH"):        # this checkout's dslc, unless one is named
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TOL = 1e-5
EXPORTERS = ("ts", "dynamo")
DYNAMIC = ("ts-dyn", "dynamo-dyn")     # the batch a symbol (N): --dynamic


# ---- the models: each a function returning (module, inputs as a tuple of tensors) ----------

def _torch():
    import torch
    return torch, torch.nn


def mlp():
    torch, nn = _torch()
    m = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(),
                      nn.Linear(16, 4))
    return m, (torch.randn(3, 12),)


def mlp_norms():
    """LayerNorm (untrained: scale ones, bias zeros), dropout, softplus, tanh."""
    torch, nn = _torch()
    m = nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.Softplus(), nn.Dropout(0.1),
                      nn.Linear(16, 8), nn.Tanh())
    return m, (torch.randn(3, 12),)


def cnn_bn():
    torch, nn = _torch()
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16),
                      nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    _randomise_bn(m)
    return m, (torch.randn(2, 3, 16, 16),)


def _randomise_bn(m):
    """Batchnorm statistics and affine parameters away from their defaults."""
    torch, nn = _torch()
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def _perturb(m):
    """Every floating parameter and buffer moved off its initial value (norm scales of ones,
    biases of zeros): trained weights, which torch's TorchScript exporter does not merge into
    one initializer as it merges equal ones."""
    torch, _ = _torch()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for t in [*m.parameters(), *m.buffers()]:
            if t.is_floating_point():
                t.add_(torch.randn(t.shape, generator=g) * 0.05)
    return m


def _basic_block(cin, cout, stride):
    torch, nn = _torch()

    class Basic(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return torch.relu(h + (x if self.down is None else self.down(x)))
    return Basic()


def resnet_blocks():
    torch, nn = _torch()
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                      _basic_block(8, 8, 1), _basic_block(8, 8, 1), _basic_block(8, 16, 2),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    _randomise_bn(m)
    return m, (torch.randn(2, 3, 16, 16),)


def depthwise_separable():
    torch, nn = _torch()

    def ds(cin, cout, stride):
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                nn.ReLU6(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]
    m = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU6(), *ds(8, 16, 1), *ds(16, 32, 2),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 4))
    _randomise_bn(m)
    return m, (torch.randn(2, 3, 16, 16),)


def _seq_classifier(cell):
    torch, nn = _torch()

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = cell(6, 8, batch_first=True)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y[:, -1])
    return Classifier(), (torch.randn(2, 5, 6),)


def lstm_classifier():
    return _seq_classifier(_torch()[1].LSTM)


def gru_classifier():
    return _seq_classifier(_torch()[1].GRU)


def transformer_encoder():
    torch, nn = _torch()
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
    m = _perturb(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False))
    return m, (torch.randn(2, 5, 16),)


def unet():
    torch, nn = _torch()

    def double(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.e1, self.e2 = double(3, 8), double(8, 16)
            self.pool = nn.MaxPool2d(2)
            self.up = nn.ConvTranspose2d(16, 8, 2, stride=2)
            self.d1 = double(16, 8)
            self.out = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            a = self.e1(x)
            b = self.e2(self.pool(a))
            return self.out(self.d1(torch.cat([a, self.up(b)], 1)))
    m = UNet()
    _randomise_bn(m)
    return m, (torch.randn(2, 3, 16, 16),)


def upsampling():
    """torch's bilinear (align_corners=False: half-pixel coordinates) and nearest upsampling."""
    torch, nn = _torch()
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear"),
                      nn.Conv2d(4, 4, 3, padding=1), nn.Upsample(scale_factor=2),
                      nn.Conv2d(4, 2, 1))
    return m, (torch.randn(2, 3, 5, 6),)


def conv_variants():
    """A reflect-padded convolution, a replication pad, Hardsigmoid, SELU, Mish and a 1-d
    convolution over the flattened map."""
    torch, nn = _torch()

    class Variants(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")
            self.pad = nn.ReplicationPad2d(1)
            self.conv2 = nn.Conv2d(8, 2, 3)
            self.seq = nn.Conv1d(2, 4, 3, padding=1)

        def forward(self, x):
            h = nn.functional.hardsigmoid(self.conv(x))
            h = nn.functional.mish(nn.functional.selu(self.conv2(self.pad(h))))
            return self.seq(h.flatten(2))
    return Variants(), (torch.randn(2, 3, 6, 6),)


def pixel_shuffle():
    """A sub-pixel convolution (ESPCN): PixelShuffle is ONNX's DepthToSpace."""
    torch, nn = _torch()
    return nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)), \
        (torch.randn(2, 3, 6, 6),)


# ---- Hugging Face transformers, small configs, random weights -------------------------------

class _Hidden:
    """A module returning the model's last hidden state (or logits) as a plain tensor."""

    def __new__(cls, model, key="last_hidden_state", trained=True):
        torch, nn = _torch()

        class Wrapped(nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model(x)[key]
        return _perturb(Wrapped()) if trained else Wrapped()


def _ids(vocab=64, shape=(2, 8)):
    torch, _ = _torch()
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(0))


def _hf(name, **kw):
    import transformers
    cfg = getattr(transformers, name + "Config")(**kw)
    cfg._attn_implementation = "eager"
    return cfg


def hf_bert():
    import transformers
    cfg = _hf("Bert", vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
              intermediate_size=32, max_position_embeddings=16)
    return _Hidden(transformers.BertModel(cfg, add_pooling_layer=False)), (_ids(),)


def hf_distilbert():
    import transformers
    cfg = _hf("DistilBert", vocab_size=64, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
              max_position_embeddings=16)
    return _Hidden(transformers.DistilBertModel(cfg)), (_ids(),)


def hf_gpt2():
    import transformers
    cfg = _hf("GPT2", vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=16)
    return _Hidden(transformers.GPT2Model(cfg)), (_ids(),)


def hf_t5_encoder():
    import transformers
    cfg = _hf("T5", vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
    return _Hidden(transformers.T5EncoderModel(cfg)), (_ids(),)


def hf_vit():
    import transformers
    torch, _ = _torch()
    cfg = _hf("ViT", image_size=16, patch_size=8, num_channels=3, hidden_size=16,
              num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    return _Hidden(transformers.ViTModel(cfg, add_pooling_layer=False)), \
        (torch.randn(2, 3, 16, 16),)


def hf_convnext(trained=True):
    import transformers
    torch, _ = _torch()
    cfg = _hf("ConvNext", num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
              image_size=32)
    return _Hidden(transformers.ConvNextModel(cfg), trained=trained), \
        (torch.randn(2, 3, 32, 32),)


def hf_convnext_untrained():
    """ConvNeXt at its initial weights: norm scales of ones and biases of zeros, which the
    TorchScript exporter stores once for all the layers that have them."""
    return hf_convnext(trained=False)


def hf_resnet():
    import transformers
    torch, _ = _torch()
    cfg = _hf("ResNet", num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
              layer_type="basic")
    m = transformers.ResNetModel(cfg)
    _randomise_bn(m)
    return _Hidden(m), (torch.randn(2, 3, 32, 32),)


def hf_whisper_encoder_untrained():
    return hf_whisper_encoder(trained=False)


def hf_whisper_encoder(trained=True):
    import transformers
    torch, _ = _torch()
    cfg = _hf("Whisper", vocab_size=64, d_model=16, encoder_layers=2, encoder_attention_heads=2,
              decoder_layers=1, decoder_attention_heads=2, encoder_ffn_dim=32,
              decoder_ffn_dim=32, num_mel_bins=8, max_source_positions=8,
              max_target_positions=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
              decoder_start_token_id=1)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    enc = WhisperEncoder(cfg)
    return _Hidden(enc, trained=trained), (torch.randn(2, 8, 16),)


MODELS = {f.__name__: f for f in (
    mlp, mlp_norms, cnn_bn, resnet_blocks, depthwise_separable, lstm_classifier, gru_classifier,
    transformer_encoder, unet, upsampling, conv_variants, pixel_shuffle, hf_bert, hf_distilbert, hf_gpt2, hf_t5_encoder, hf_vit,
    hf_convnext, hf_resnet, hf_whisper_encoder, hf_convnext_untrained,
    hf_whisper_encoder_untrained)}
# the model-zoo graphs that ship in the onnx package's test data (opset 9, Caffe2 exports; each
# weight a ConstantOfShape of 0.02: their structure is real, their numbers are not). vgg19 is
# left out: its 102M-element fc6 weight is more than the corpus should allocate.
ZOO = ("light_bvlc_alexnet", "light_densenet121", "light_inception_v1", "light_inception_v2",
       "light_resnet50", "light_shufflenet", "light_squeezenet", "light_zfnet512")
# the CI subset (tests/test_import_corpus.py): TorchScript exports of small plain models
FAST = [("mlp", "ts"), ("mlp_norms", "ts"), ("cnn_bn", "ts"), ("resnet_blocks", "ts"),
        ("depthwise_separable", "ts"), ("unet", "ts"), ("hf_convnext_untrained", "ts"),
        ("cnn_bn", "ts-dyn"), ("lstm_classifier", "ts-dyn")]


# ---- export, import, compare ----------------------------------------------------------------

@dataclass
class Row:
    model: str
    exporter: str
    status: str             # ok | differs | refused | no-compile | export-failed
    detail: str = ""
    error: float | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def export(module, inputs, exporter: str):
    """The ONNX ModelProto torch writes for `module` on `inputs` (static shapes)."""
    import onnx
    import torch
    names = [f"x{i}" if len(inputs) > 1 else "x" for i in range(len(inputs))]
    f = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter.startswith("ts"):
            axes = {n: {0: "N"} for n in [*names, "y"]} if exporter.endswith("-dyn") else None
            torch.onnx.export(module, inputs, f, dynamo=False, opset_version=17,
                              input_names=names, output_names=["y"], dynamic_axes=axes)
        else:
            shapes = tuple({0: torch.export.Dim("N", min=2)} for _ in inputs) \
                if exporter.endswith("-dyn") else None
            prog = torch.onnx.export(module, inputs, dynamo=True, input_names=names,
                                     output_names=["y"], verbose=False, dynamic_shapes=shapes)
            return prog.model_proto
    return onnx.load_from_string(f.getvalue())


def zoo_graph(name: str):
    """An onnx package test-data model and its inputs (random, by the graph's input types)."""
    import onnx
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        name + ".onnx")
    proto = onnx.load(path)
    inits = {t.name for t in proto.graph.initializer}
    rng = np.random.default_rng(0)
    feeds = {}
    for v in proto.graph.input:
        if v.name not in inits:
            shape = [d.dim_value or 1 for d in v.type.tensor_type.shape.dim]
            feeds[v.name] = rng.standard_normal(shape).astype(np.float32)
    return proto, feeds


def _run(proto, feeds):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {k: v for k, v in feeds.items() if k in {i.name for i in s.get_inputs()}})


def _feeds(proto, inputs) -> dict:
    return {v.name: t.numpy() for v, t in zip(proto.graph.input, inputs)}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def round_trip(name: str, exporter: str) -> Row:
    """Build `name`, export it with `exporter`, import it, recompile and compare."""
    import torch

    from dslc.onnx_import import ImportFailure, import_onnx
    t0 = time.perf_counter()
    torch.manual_seed(0)
    row = Row(name, exporter, "export-failed")
    try:
        if exporter == "zoo":
            proto, feeds = zoo_graph(name)
        else:
            module, inputs = MODELS[name]()
            module.eval()
            proto = export(module, inputs, exporter)
            feeds = _feeds(proto, inputs)
    except Exception as e:          # the exporter's own failure: not dslc's
        row.detail = _first_line(e)
        row.seconds = time.perf_counter() - t0
        return row
    want = _run(proto, feeds)
    try:
        imported = import_onnx(proto, f"{name}.{exporter}.onnx")
    except ImportFailure as e:
        row.status, row.detail = "refused", str(e)[:300]
    except Exception as e:          # noqa: BLE001 - a bug in dslc: listed, never hidden
        row.status, row.detail = "crash", _first_line(e)
    else:
        # a symbolic batch is run at the exported batch and at one more (a spec that kept the
        # export's batch somewhere fails there)
        runs = [feeds, _grown(feeds)] if exporter.endswith("-dyn") else [feeds]
        try:
            again = imported.model.to_onnx(weights=imported.weights)
            wants = [want] + [_run(proto, f) for f in runs[1:]]
            gots = [_run(again, {p.name: v for p, v in zip(imported.model.inputs, f.values())})
                    for f in runs]
        except Exception as e:      # noqa: BLE001
            row.status, row.detail = "no-compile", _first_line(e)
        else:
            err = max(_error(w, g) for w, g in zip(wants, gots))
            row.error = err
            row.status = "ok" if err <= TOL else "differs"
            if row.status == "differs":
                row.detail = f"max relative error {err:.2e}"
    row.seconds = time.perf_counter() - t0
    return row


def _grown(feeds: dict) -> dict:
    """Each input with one example more along the batch: its first one, rolled along the last
    axis (ids stay ids)."""
    return {k: np.concatenate([v, np.roll(v[:1], 1, axis=-1)]) for k, v in feeds.items()}


def _error(want: list, got: list) -> float:
    """The largest error of any output relative to that output's largest magnitude; inf when
    the outputs differ in number or shape."""
    if len(want) != len(got):
        return float("inf")
    err = 0.0
    for w, g in zip(want, got):
        if w.shape != g.shape:
            return float("inf")
        scale = max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-30)
        err = max(err, float(np.max(np.abs(w.astype(np.float64) - g))) / scale
                  if w.size else 0.0)
    return err


def table(rows: list[Row]) -> str:
    lines = ["| model | exporter | result | rel. error | detail |", "|---|---|---|---|---|"]
    for r in rows:
        err = "" if r.error is None else f"{r.error:.1e}"
        lines.append(f"| {r.model} | {r.exporter} | {r.status} | {err} | "
                     f"{r.detail.replace('|', '/')} |")
    exported = [r for r in rows if r.status != "export-failed"]
    ok = sum(r.ok for r in exported)
    lines.append("")
    lines.append(f"round-trip: {ok} of {len(exported)} exported graphs "
                 f"({100 * ok / max(len(exported), 1):.0f}%); {len(rows) - len(exported)} "
                 f"not exported by torch")
    return "\n".join(lines)


def main(argv=None) -> int:
    import logging
    logging.getLogger("torch").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="the CI subset")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--exporter", choices=(*EXPORTERS, *DYNAMIC, "zoo"))
    ap.add_argument("--dynamic", action="store_true",
                    help="also export each model with a symbolic batch size")
    ap.add_argument("--quiet", action="store_true", help="the table only, at the end")
    args = ap.parse_args(argv)
    if args.fast:
        cases = FAST
    else:
        names = args.only.split(",") if args.only else [*MODELS, *ZOO]
        unknown = [n for n in names if n not in MODELS and n not in ZOO]
        if unknown:
            print(f"unknown model {unknown[0]} (models: {', '.join([*MODELS, *ZOO])})",
                  file=sys.stderr)
            return 2
        exporters = (*EXPORTERS, *DYNAMIC) if args.dynamic or args.exporter in DYNAMIC else \
            EXPORTERS
        cases = [(n, e) for n in names if n in MODELS for e in exporters] + \
            [(n, "zoo") for n in names if n in ZOO]
    if args.exporter:
        cases = [(n, e) for n, e in cases if e == args.exporter]
    rows = []
    for n, e in cases:
        rows.append(round_trip(n, e))
        if not args.quiet:
            r = rows[-1]
            print(f"{r.model:22} {r.exporter:7} {r.status:13} {r.seconds:5.1f}s {r.detail[:150]}",
                  file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
