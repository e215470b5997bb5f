"""`dslc summary`'s totals against the sums of its rows, at every --depth, and both against
counts from outside the summary: the spec's reference parameter count, torch's module (its
buffers, and the bytes of every layer's output by forward hooks), and the per-node MACs (which
tests/test_macs_oracle.py checks against torch's counter).

Buffers: dslc counts running statistics, not BatchNorm's num_batches_tracked (an int64 counter
torch keeps beside them); the torch oracle leaves it out too."""
from __future__ import annotations

import re

import pytest

import dslc
from dslc.ir.dims import Dim
from dslc.tools.summary import activation_bytes, grouped_rows, summary_json, table, weight_bytes
from specfiles import SPECS, envs, int_ranges, references

_TORCH = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64"}

# Nested blocks (named repeats, blocks in blocks), ties, buffers, scan, symbolic sizes.
SAMPLE = [("zoo/resnet.dl", "ResNet18"), ("zoo/densenet.dl", "DenseNet121"),
          ("zoo/googlenet.dl", "GoogLeNet"), ("zoo/mobilenet_v2.dl", "MobileNetV2"),
          ("zoo/unet.dl", "UNet"), ("transformer/gpt2.dl", "GPT2"),
          ("transformer/char_gpt.dl", "CharGPT"), ("autoencoders/tied.dl", "TiedAutoencoder"),
          ("seq/jordan.dl", None), ("seeds/inception.dl", None), ("gan/dcgan.dl", "Discriminator"),
          ("extras/recurrent_conv.dl", "RecurrentConv"), ("ops/siamese.dl", None),
          ("ops/indexing.dl", None), ("ops/reduce.dl", None)]

# Other element sizes: half and double precision weights and activations, a precise op
# (layernorm: f32 weights in an f16 model), integer outputs.
MIXED = """# By hand: dense 8->16: 144, layernorm(16): 32, dense 16->2: 34.
# params Half: 210
# conv1d 3->4, k 3: 40, batchnorm(4): 8, dense 16->2: 34.
# params Double: 82
model Half {
    input x: f16[N, 8]
    output y = x -> dense(16) -> layernorm -> relu -> dense(2)
    output i = y -> argmax(axis=1)
}
model Double {
    input x: f64[N, 3, 6]
    output y = x -> conv1d(4, 3) -> batchnorm -> flatten -> dense(2)
}
"""


def _models():
    out = []
    for rel, name in SAMPLE:
        program = dslc.load(SPECS / rel)
        names = [name] if name else list(program.models)
        out += [(rel, n, program) for n in names]
    program = dslc.load(MIXED)
    return out + [(None, n, program) for n in program.models]


CASES = _models()


def _depths(model):
    deepest = max(len(n.name.split(".")) for n in model.nodes)
    return [None] + list(range(deepest + 1))


def _env(rel, model):
    return envs(model, SPECS / rel)[0] if rel else {s: 2 for s in model.symbols()}


def _reference(rel, name):
    if rel:
        return references(SPECS / rel)[name]
    return {m[1]: int(m[2]) for m in re.finditer(r"# params (\w+): (\d+)", MIXED)}[name]


@pytest.mark.parametrize("rel, name, program", CASES, ids=[f"{r}:{n}" for r, n, _ in CASES])
def test_json_totals_are_the_sums_of_the_rows_at_every_depth(rel, name, program):
    model = program.models[name]
    dims = {s: v for s, v in _env(rel, model).items()}
    per_node = None
    for depth in _depths(model):
        (doc,) = summary_json(program, [model], depth, 2, dims)["models"]
        rows = doc["layers"]
        assert sum(r["params"] for r in rows) == doc["params"] == _reference(rel, name)
        assert sum(r["buffers"] for r in rows) == doc["buffers"] == model.buffers
        assert all(isinstance(r["macs"], int) for r in rows), "dims left a MAC count symbolic"
        assert sum(r["macs"] for r in rows) == doc["macs"]
        if per_node is None:      # depth None: one row per node, MACs at batch 1
            per_node = sum(Dim.of(n.macs()).evaluate({**dims, **{s: 1 for s in _batch(model)}})
                           for n in model.nodes)
        assert doc["macs"] == per_node, f"depth {depth}"
        if depth is not None:
            assert len(rows) <= len(grouped_rows(model, None))
            assert all(len(r["name"].split(".")) <= depth + 1 for r in rows)


def _batch(model):
    return {str(p.type.shape[0]) for p in model.inputs if p.type.rank and not p.type.shape[0].is_const()}


def _number(cell: str) -> int:
    return int(cell.replace(",", ""))


@pytest.mark.parametrize("rel, name, program", CASES[:8], ids=[f"{r}:{n}" for r, n, _ in CASES[:8]])
def test_table_columns_add_up_to_its_totals_line(rel, name, program):
    """The text table: its params and MACs columns sum to the totals line at every depth."""
    model = program.models[name]
    dims = {s: v for s, v in _env(rel, model).items() if s not in _batch(model)}
    for depth in _depths(model):
        text = table(model, depth, 1, dims)
        lines = text.splitlines()
        rows = [ln for ln in lines[2:lines.index("")] if not re.search(r"\binput\b", ln)]
        cells = [re.split(r"\s{2,}", ln.strip()) for ln in rows]
        params = sum(_number(c[-2]) for c in cells)
        macs = sum(_number(c[-1]) for c in cells)
        total = re.search(r"([\d,]+) parameters, [\d,]+ trainable, ([\d,]+) buffer elements, "
                          r"([\d,]+) MACs per example", text)
        assert total, text[-400:]
        assert params == _number(total.group(1)) == model.params, f"depth {depth}"
        assert macs == _number(total.group(3)), f"depth {depth}"
        assert _number(total.group(2)) == model.buffers


SMALL = [c for c in CASES if c[2].models[c[1]].params < 2_000_000]


@pytest.mark.parametrize("rel, name, program", SMALL, ids=[f"{r}:{n}" for r, n, _ in SMALL])
def test_memory_against_the_torch_module(rel, name, program):
    """Weights: bytes == torch's parameters and buffers (less num_batches_tracked) at their
    element sizes; activations: the bytes of every layer's output, measured by forward hooks on
    dslc's torch module at batch 2, equal summary's activation memory. A precise op in a half
    model (layernorm) runs in f32 and its result is cast back to the IR's dtype after the
    submodule returns: its bytes are the output's elements at the IR's element size."""
    import torch
    from support import make_inputs
    model = program.models[name]
    env = {**_env(rel, model), **{s: 2 for s in _batch(model)}}
    module = model.to_torch().eval()
    tensors = list(module.parameters()) + [b for k, b in module.named_buffers()
                                           if not k.endswith("num_batches_tracked")]
    assert sum(weight_bytes(model).values()) == sum(t.numel() * t.element_size() for t in tensors)
    assert sum(t.numel() for _, t in module.named_buffers() if t.is_floating_point()) == model.buffers
    seen = []

    def hook(node):
        def count(_, __, out):
            outs = out if isinstance(out, tuple) else (out,)
            seen.append(sum(o.numel() * (torch.empty(0, dtype=getattr(torch, _TORCH[t.dtype]))
                                         .element_size() if node.upcast else o.element_size())
                            for o, t in zip(outs, node.out_types)))
        return count

    for sub, node in {id(m): (m, n) for n in model.nodes
                      for m in [module.get_submodule(n.name)]}.values():
        sub.register_forward_hook(hook(node))
    xs = make_inputs(model, env, highs=int_ranges(SPECS / rel) if rel else None)
    with torch.no_grad():
        module(*[torch.from_numpy(x) for x in xs])
    want = activation_bytes(model, 2, {k: v for k, v in env.items() if k not in _batch(model)})
    assert len(seen) == len(model.nodes)
    assert sum(seen) == want.value
