"""The import corpus's CI subset (benchmarks/import_corpus.py --fast): small plain-torch
models (an MLP, an MLP with LayerNorm/Softplus/Dropout, a CNN with batchnorm, ResNet basic
blocks, depthwise-separable convolutions, a U-Net; an untrained Hugging Face ConvNeXt, whose
equal norm scales and biases the exporter stores once, Identities of one initializer, which
must come back as separate parameters, not ties) exported by torch.onnx.export's TorchScript
exporter at opset 17 (a CNN and an LSTM classifier also with a symbolic batch: the LSTM's
zero state is then sized by a Shape of the input), imported, compiled again with the imported
weights, and run on onnxruntime beside the exported graph: every one agrees within 1e-5
relative. The whole corpus (both exporters, Hugging Face models) is the benchmark's."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from specfiles import ROOT

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def _corpus():
    spec = importlib.util.spec_from_file_location("import_corpus",
                                                  ROOT / "benchmarks" / "import_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_corpus"] = module          # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus()


@pytest.mark.parametrize("name,exporter", CORPUS.FAST, ids=[f"{n}-{e}" for n, e in CORPUS.FAST])
def test_corpus_graph_round_trips(name, exporter):
    if name.startswith("hf_"):
        pytest.importorskip("transformers")
    row = CORPUS.round_trip(name, exporter)
    assert row.ok, (row.status, row.detail)
    assert row.error is not None and row.error <= CORPUS.TOL


def test_the_comparison_catches_a_wrong_weight(monkeypatch):
    """The corpus's comparison fails a graph whose imported weights are off by one part in
    a thousand: its oracle is the exported graph, not dslc."""
    from dslc import onnx_import
    real = onnx_import.import_onnx

    def spoiled(proto, source):
        imported = real(proto, source)
        k = next(iter(imported.weights))
        imported.weights[k] = imported.weights[k] * 1.001
        return imported
    monkeypatch.setattr(onnx_import, "import_onnx", spoiled)
    row = CORPUS.round_trip("mlp", "ts")
    assert row.status == "differs" and row.error > CORPUS.TOL
