"""`dslc graph`: DOT (parsed back with pydot) and Mermaid text of a model, clusters per block
call, edges labelled with shapes. Expected shapes are worked by hand from LeNet-5 (course text
003): 28x28 -> conv 5x5 pad 2 -> 28 -> pool 2 -> 14 -> conv 5x5 -> 10 -> pool 2 -> 5, 16*5*5 = 400."""
from __future__ import annotations

from pathlib import Path

import pydot

import dslc
from dslc.tools import graph
from support import cli as run

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "specs" / "seeds" / "lenet.dl"
RESNET = ROOT / "specs" / "zoo" / "resnet.dl"


def _parse(text: str):
    (g,) = pydot.graph_from_dot_data(text)
    return g


def _clusters(g) -> list:
    out = []
    for s in g.get_subgraphs():
        out += [s] + _clusters(s)
    return out


def test_lenet_dot_has_every_layer_and_the_shapes_on_its_edges(capsys):
    code, out, _ = run(capsys, "graph", LENET)
    assert code == 0
    g = _parse(out)
    model = dslc.load(LENET).models["LeNet"]
    names = {n.get_name() for n in g.get_nodes()} - {"node", "edge"}
    assert len(names) == len(model.nodes) + 2                  # the layers, image and logits
    labels = [e.get_label().strip('"') for e in g.get_edges()]
    assert labels[:2] == ["[N, 1, 28, 28]", "[N, 6, 28, 28]"]
    for shape in ("[N, 6, 14, 14]", "[N, 16, 10, 10]", "[N, 16, 5, 5]", "[N, 400]", "[N, 84]"):
        assert shape in labels
    assert len(labels) == len(model.nodes) + 1                  # a chain
    assert '"conv2d_2: conv2d(16, 5)\\n2,416 params"' in out    # 6*5*5*16 + 16


def test_blocks_are_nested_clusters_and_depth_folds_them(capsys):
    model = dslc.load(RESNET).models["ResNet18"]
    g = _parse(graph.dot(model))
    titles = {c.get_label().strip('"') for c in _clusters(g)}
    assert {"Stem_1: Stem", "layer1: Basic", "layer1.0: Basic", "layer1.1: Basic"} <= titles
    folded = _parse(graph.dot(model, depth=0))
    assert not _clusters(folded)
    tops = {n.name.split(".")[0] for n in model.nodes}
    boxes = {n.get_name() for n in folded.get_nodes()} - {"node", "edge"}
    assert len(boxes) == len(tops) + 2
    stem = next(n for n in folded.get_nodes() if n.get_name() == "n_Stem_1")
    assert "9,536 params" in stem.get_label()      # 7*7*3*64 conv + a 64-channel batchnorm
    one = _parse(graph.dot(model, depth=1))        # a named repeat's instances: one box each
    inside = {n.get_name() for c in [one] + _clusters(one) for n in c.get_nodes()}
    assert {"n_layer1_0", "n_layer1_1"} <= inside and "n_layer1_0_conv2d_1" not in inside


def test_residual_edges_join(capsys):
    model = dslc.load(RESNET).models["ResNet18"]
    g = _parse(graph.dot(model))
    into_add = [e for e in g.get_edges() if e.get_destination() == "n_layer1_0_add_1"]
    assert len(into_add) == 2                       # the main path and the skip


def test_mermaid(capsys, tmp_path):
    out = tmp_path / "r.mmd"
    code, _, _ = run(capsys, "graph", RESNET, "--model", "ResNet18", "-o", out)
    text = out.read_text()
    assert code == 0 and text.startswith("flowchart TB\n")
    lines = text.splitlines()
    assert sum(l.strip().startswith("subgraph ") for l in lines) == \
        sum(l.strip() == "end" for l in lines) > 0
    edges = [l for l in lines if "-->" in l]
    assert edges and all('-->|"[' in l for l in edges)


def test_picture_formats_need_graphviz(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = run(capsys, "graph", LENET, "-o", tmp_path / "a.svg")
    assert code == 2 and "needs Graphviz's `dot`" in err and not (tmp_path / "a.svg").exists()
    code, _, err = run(capsys, "graph", LENET, "-o", tmp_path / "a.txt")
    assert code == 2 and "cannot tell the format of" in err


def test_bad_spec(capsys):
    code, _, err = run(capsys, "graph", ROOT / "specs" / "invalid" / "residual_mismatch.dl")
    assert code == 1 and "error[E302]" in err
