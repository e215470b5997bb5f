"""The summary: per-layer rows, blocks folded by depth, activation memory, compact notation."""
from __future__ import annotations

import dslc
from dslc.summary import activation_bytes, compact, grouped_rows, layer_rows, table
from specfiles import ROOT


def _model(rel, name):
    return dslc.load(ROOT / rel).models[name]


def test_folding_blocks_keeps_the_totals():
    m = _model("specs/zoo/resnet.dl", "ResNet50")
    full, folded = layer_rows(m), grouped_rows(m, 0)
    assert len(folded) == 1 + 16 + 3 and len(full) == 175   # stem, 16 bottlenecks, head
    assert sum(r["params"] for r in folded) == sum(r["params"] for r in full) == 25_557_032
    stem = folded[0]
    assert stem["name"] == "Stem_1" and stem["op"] == "Stem (block)"
    assert str(stem["shape"]) == "f32[N, 64, H/4, W/4]"
    assert stem["params"] == 64 * 3 * 49 + 2 * 64      # conv 7x7 without bias + batchnorm


def test_activation_memory_counted_by_hand():
    m = _model("specs/seeds/mlp.dl", "DeepMLP")
    per_example = 2 * (300 + 100 + 50 + 20 + 5) + 1     # dense + tanh outputs, the last dense
    assert activation_bytes(m, 8, {}).value == 8 * per_example * 4


def test_activation_memory_stays_symbolic_without_sizes():
    m = _model("specs/zoo/unet.dl", "UNet")
    assert activation_bytes(m, 1, {}).symbols() == {"H", "W"}
    assert activation_bytes(m, 2, {"H": 32, "W": 32}).is_const()


def test_compact_notation_of_the_slides():
    lines = compact(_model("specs/seeds/conv2d_chain.dl", "ConvChain")).splitlines()
    assert lines[0] == "100x100x1 -[4x4, 5]-> 97x97x5"
    assert lines[-1] == "88x88x2 -[4x4, 1]-> 85x85x1"


def test_table_mentions_totals_and_macs():
    text = table(_model("specs/seeds/lenet.dl", "LeNet"), batch=4)
    assert "61,706 parameters" in text and "416,520 MACs per example" in text
    assert "activations:" in text and "at batch 4" in text
