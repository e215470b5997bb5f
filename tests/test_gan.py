"""The GANs of the course texts (000 and 002 name GANs and WaveGAN) against references written
here in plain torch, without dslc:

- DCGAN's generator and discriminator as the PyTorch DCGAN tutorial writes them (`self.main`,
  an nn.Sequential): dslc's weights and BatchNorm running statistics copied in with
  load_state_dict through a name map, the same outputs from the reference, dslc's torch module
  and onnxruntime (eval mode), and the same outputs and updated running statistics in training
  mode.
- WaveGAN (Donahue et al. 2019) as the PyTorch ports write it (fc1, tconv1..5 / conv1..5):
  16,384 samples out, the counts from the layer shapes, the same outputs after a weight copy.
- phase_shuffle: the identity in eval mode and ONNX; in training mode each example a reflected
  shift of its input by some s in [-n, n] (checked against the 2n + 1 candidates computed with
  numpy), shifts varying across examples, reproducible from dslc's seed.

Each GAN is built once per module (a module-scoped fixture); batches are 2."""
from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import dslc
from specfiles import ROOT, references
from support import random_weights, run_ort, run_torch

DCGAN = ROOT / "specs" / "gan" / "dcgan.dl"
WAVEGAN = ROOT / "specs" / "gan" / "wavegan.dl"
BATCH = 2


# ---- references in plain torch ----
def tutorial_generator(nz=100, ngf=64, nc=3):
    """The PyTorch DCGAN tutorial's Generator (its `main` Sequential, layer for layer)."""
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 8),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh())

        def forward(self, input):
            return self.main(input)

    return Generator()


def tutorial_discriminator(ndf=64, nc=3):
    """The PyTorch DCGAN tutorial's Discriminator."""
    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 4),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 8),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
                nn.Sigmoid())

        def forward(self, input):
            return self.main(input)

    return Discriminator()


class WaveGANGenerator(nn.Module):
    """WaveGAN's generator as the PyTorch ports write it: dense, view [N, 16d, 16], five
    ConvTranspose1d(25, stride 4, padding 11, output_padding 1) with ReLU between, Tanh."""

    def __init__(self, d=64, c=1, latent=100):
        super().__init__()
        self.d = d
        self.fc1 = nn.Linear(latent, 256 * d)
        widths = [16 * d, 8 * d, 4 * d, 2 * d, d, c]
        for i in range(5):
            setattr(self, f"tconv{i + 1}", nn.ConvTranspose1d(
                widths[i], widths[i + 1], 25, stride=4, padding=11, output_padding=1))

    def forward(self, z):
        x = torch.relu(self.fc1(z).view(-1, 16 * self.d, 16))
        for i in range(1, 5):
            x = torch.relu(getattr(self, f"tconv{i}")(x))
        return torch.tanh(self.tconv5(x))


class WaveGANDiscriminator(nn.Module):
    """WaveGAN's discriminator at inference (phase shuffle is the identity there): five
    Conv1d(25, stride 4, padding 11) with LeakyReLU(0.2), flatten [N, 256d], dense to 1."""

    def __init__(self, d=64, c=1):
        super().__init__()
        self.d = d
        widths = [c, d, 2 * d, 4 * d, 8 * d, 16 * d]
        for i in range(5):
            setattr(self, f"conv{i + 1}", nn.Conv1d(widths[i], widths[i + 1], 25, stride=4,
                                                    padding=11))
        self.fc1 = nn.Linear(256 * d, 1)

    def forward(self, x):
        for i in range(1, 6):
            x = nn.functional.leaky_relu(getattr(self, f"conv{i}")(x), 0.2)
        return self.fc1(x.view(-1, 256 * self.d))


# reference module prefix -> dslc layer name
NAME_MAPS = {
    "Generator": {"main.0": "conv_transpose2d_1", "main.1": "batchnorm_1",
                  "main.3": "Up_1.conv_transpose2d_1", "main.4": "Up_1.batchnorm_1",
                  "main.6": "Up_2.conv_transpose2d_1", "main.7": "Up_2.batchnorm_1",
                  "main.9": "Up_3.conv_transpose2d_1", "main.10": "Up_3.batchnorm_1",
                  "main.12": "conv_transpose2d_2"},
    "Discriminator": {"main.0": "conv2d_1",
                      "main.2": "Down_1.conv2d_1", "main.3": "Down_1.batchnorm_1",
                      "main.5": "Down_2.conv2d_1", "main.6": "Down_2.batchnorm_1",
                      "main.8": "Down_3.conv2d_1", "main.9": "Down_3.batchnorm_1",
                      "main.11": "conv2d_2"},
    "WaveGANGenerator": {"fc1": "dense_1", **{f"tconv{i}": f"Up_{i}.conv_transpose1d_1"
                                              for i in range(1, 6)}},
    "WaveGANDiscriminator": {"fc1": "dense_1", **{f"conv{i}": f"Down_{i}.conv1d_1"
                                                  for i in range(1, 6)}},
}
REFERENCES = {"Generator": tutorial_generator, "Discriminator": tutorial_discriminator,
              "WaveGANGenerator": WaveGANGenerator, "WaveGANDiscriminator": WaveGANDiscriminator}


def copy_into_reference(name, module):
    """The reference with dslc's state (parameters, running statistics, batch counters)
    loaded strictly through the name map; every dslc tensor is used."""
    ref = REFERENCES[name]()
    ours = module.state_dict()
    prefixes = NAME_MAPS[name]
    mapped = {}
    for key in ref.state_dict():
        prefix, leaf = key.rsplit(".", 1)
        mapped[key] = ours[f"{prefixes[prefix]}.{leaf}"]
    assert {f"{prefixes[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}" for k in mapped} == set(ours)
    ref.load_state_dict(mapped, strict=True)
    return ref


@dataclass
class Built:
    model: object
    module: object        # dslc's torch module, eval mode
    ref: object           # the plain-torch reference with dslc's weights, eval mode
    session: object       # onnxruntime on dslc's ONNX graph, same weights


# torch's default init shrinks a discriminator's activations about 2.5-fold per convolution
# (gain 1/sqrt(3) and the LeakyReLU): its scores would all be ~0.5, a weak comparison. Scaled
# convolution kernels keep them O(1).
GAINS = {"Discriminator": 2.5, "WaveGANDiscriminator": 2.5}


def build(path, name):
    import onnxruntime as ort
    model = dslc.load(path).models[name]
    weights = random_weights(model)                 # BatchNorm running stats randomised too
    for k, v in weights.items():
        if k.endswith(".weight") and v.ndim >= 3:
            weights[k] = v * np.float32(GAINS.get(name, 1.0))
    module = model.to_torch(weights=weights).eval()
    ref = copy_into_reference(name, module).eval()
    proto = model.to_onnx(weights=weights)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return Built(model, module, ref, session)


@pytest.fixture(scope="module")
def dcgan():
    return {name: build(DCGAN, name) for name in ("Generator", "Discriminator")}


@pytest.fixture(scope="module")
def wavegan():
    return {name: build(WAVEGAN, name) for name in ("WaveGANGenerator", "WaveGANDiscriminator")}


def inputs(model, seed=0):
    shape = tuple(BATCH if not d.is_const() else d.value for d in model.inputs[0].type.shape)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def three_ways(b: Built, x: np.ndarray):
    """(reference, dslc torch, onnxruntime) outputs at eval, as float64 arrays."""
    with torch.no_grad():
        ref = b.ref(torch.from_numpy(x)).numpy()
        ours = b.module(torch.from_numpy(x)).numpy()
    (ort_out,) = b.session.run(None, {b.model.inputs[0].name: x})
    return [a.astype(np.float64) for a in (ref, ours, ort_out)]


def max_diffs(ref, ours, ort_out):
    return float(np.max(np.abs(ref - ours))), float(np.max(np.abs(ref - ort_out)))


# ---- DCGAN ----
def test_dcgan_counts_are_the_tutorials(dcgan):
    refs = references(DCGAN)
    for name, b in dcgan.items():
        numel = sum(p.numel() for p in b.ref.parameters())
        assert b.model.params == numel == refs[name]
        stats = sum(t.numel() for k, t in b.ref.state_dict().items() if "running" in k)
        assert b.model.buffers == stats
    assert refs == {"Generator": 3_576_704, "Discriminator": 2_765_568}


@pytest.mark.parametrize("name, want", [("Generator", (BATCH, 3, 64, 64)),
                                        ("Discriminator", (BATCH, 1, 1, 1))])
def test_dcgan_equals_the_tutorials_modules_in_both_backends(dcgan, name, want):
    b = dcgan[name]
    x = inputs(b.model)
    if name == "Discriminator":              # images in the generator's range
        x = np.tanh(x)
    ref, ours, ort_out = three_ways(b, x)
    assert ref.shape == ours.shape == ort_out.shape == want
    assert np.std(ref) > 0.01                # not a saturated or constant output
    d_torch, d_ort = max_diffs(ref, ours, ort_out)
    assert d_torch <= 1e-5 and d_ort <= 1e-5, (d_torch, d_ort)


@pytest.mark.parametrize("name", ["Generator", "Discriminator"])
def test_dcgan_training_step_matches_batch_statistics_and_running_stats(dcgan, name):
    b = dcgan[name]
    ours, ref = copy.deepcopy(b.module).train(), copy.deepcopy(b.ref).train()
    x = torch.from_numpy(inputs(b.model, seed=1))
    y_ours, y_ref = ours(x), ref(x)
    torch.testing.assert_close(y_ours, y_ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():                     # training-mode outputs are not the eval ones
        assert not torch.allclose(y_ours, b.module(x), atol=1e-3)
    prefixes = NAME_MAPS[name]
    ours_state = ours.state_dict()
    for key, t in ref.state_dict().items():
        prefix, leaf = key.rsplit(".", 1)
        torch.testing.assert_close(ours_state[f"{prefixes[prefix]}.{leaf}"], t,
                                   rtol=1e-5, atol=1e-6)
    moved = [k for k, t in ref.state_dict().items()
             if k.endswith("running_mean") and not torch.equal(t, b.ref.state_dict()[k])]
    assert len(moved) == {"Generator": 4, "Discriminator": 3}[name]


# ---- WaveGAN ----
def _conv_count(cin, cout, k, bias=True):
    return cin * cout * k + (cout if bias else 0)


def test_wavegan_counts_from_the_layer_shapes(wavegan):
    d, c, latent = 64, 1, 100
    widths = [c, d, 2 * d, 4 * d, 8 * d, 16 * d]
    disc = sum(_conv_count(widths[i], widths[i + 1], 25) for i in range(5)) + (256 * d + 1)
    gen = (latent * 256 * d + 256 * d) + sum(_conv_count(widths[i + 1], widths[i], 25)
                                             for i in range(5))
    refs = references(WAVEGAN)
    assert disc == refs["WaveGANDiscriminator"] == 17_427_969
    assert gen == refs["WaveGANGenerator"] == 19_065_345
    for name, want in (("WaveGANGenerator", gen), ("WaveGANDiscriminator", disc)):
        b = wavegan[name]
        assert b.model.params == sum(p.numel() for p in b.ref.parameters()) == want


def test_wavegan_lengths():
    model = dslc.load(WAVEGAN).models["WaveGANGenerator"]
    assert str(model.outputs[0].type) == "f32[N, 1, 16384]"
    ups = [n for n in model.nodes if n.kind == "conv_transpose1d"]
    assert [n.out_types[0].shape[2].value for n in ups] == [64, 256, 1024, 4096, 16384]
    disc = dslc.load(WAVEGAN).models["WaveGANDiscriminator"]
    convs = [n for n in disc.nodes if n.kind == "conv1d"]
    assert [n.out_types[0].shape[2].value for n in convs] == [4096, 1024, 256, 64, 16]
    # phase shuffle after each LeakyReLU but the last
    kinds = [n.kind for n in disc.nodes if n.kind in ("conv1d", "phase_shuffle")]
    assert kinds == ["conv1d", "phase_shuffle"] * 4 + ["conv1d"]


@pytest.mark.parametrize("name, want", [("WaveGANGenerator", (BATCH, 1, 16384)),
                                        ("WaveGANDiscriminator", (BATCH, 1))])
def test_wavegan_equals_the_plain_torch_reference(wavegan, name, want):
    b = wavegan[name]
    x = inputs(b.model)
    if name == "WaveGANGenerator":           # z ~ U(-1, 1) as in the paper
        x = np.random.default_rng(0).uniform(-1, 1, x.shape).astype(np.float32)
    ref, ours, ort_out = three_ways(b, x)
    assert ref.shape == ours.shape == ort_out.shape == want
    assert np.std(ref) > 1e-3
    scale = float(np.max(np.abs(ref)))
    d_torch, d_ort = max_diffs(ref, ours, ort_out)
    assert d_torch <= 1e-5 * max(scale, 1) and d_ort <= 1e-5 * max(scale, 1), (d_torch, d_ort)


def test_wavegan_discriminator_shuffles_only_in_training(wavegan):
    b = wavegan["WaveGANDiscriminator"]
    x = torch.from_numpy(inputs(b.model, seed=3))
    train = copy.deepcopy(b.module).train()
    with torch.no_grad():
        first, second = train(x), train(x)
        again = copy.deepcopy(b.module).train()(x)
        evaluated = b.module(x)
    assert not torch.allclose(first, evaluated, atol=1e-7)
    assert not torch.equal(first, second)        # fresh shifts each step ...
    torch.testing.assert_close(again, first, rtol=0, atol=0)   # ... reproducible from the seed
    onnx_ops = {n.op_type for n in b.model.to_onnx().graph.node}
    assert not any(op.startswith("Random") for op in onnx_ops)


# ---- phase_shuffle ----
def shuffle_model(n, length="L", dtype="f32"):
    return dslc.load(f"""model PS {{
        input x: {dtype}[N, C, {length}]
        output y = x -> phase_shuffle({n}, name=ps)
    }}""").model()


def candidates(row: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """The 2n + 1 phase shifts of one example [C, L], as WaveGAN's code computes them: pad by
    the shift with reflection on one side, keep L samples."""
    length = row.shape[-1]
    out = {}
    for s in range(-n, n + 1):
        left, right = max(s, 0), max(-s, 0)
        out[s] = np.pad(row, ((0, 0), (left, right)), mode="reflect")[:, right:right + length]
    return out


def shifts_of(x: np.ndarray, y: np.ndarray, n: int) -> list[int]:
    """The shift of each example of y, asserting that it is exactly one candidate."""
    found = []
    for i in range(x.shape[0]):
        hits = [s for s, cand in candidates(x[i], n).items() if np.array_equal(y[i], cand)]
        assert len(hits) == 1, f"example {i} is no phase shift of its input in [-{n}, {n}]"
        found.extend(hits)
    return found


def test_phase_shuffle_is_the_identity_in_eval_and_onnx():
    model = shuffle_model(2)
    assert model.params == 0 and str(model.outputs[0].type) == "f32[N, C, L]"
    assert model.nodes[0].op.macs(model.nodes[0].in_types, model.nodes[0].out_types) == 0
    x = np.random.default_rng(0).standard_normal((BATCH, 3, 11)).astype(np.float32)
    np.testing.assert_array_equal(run_torch(model, {}, [x])[0], x)
    outs, proto = run_ort(model, {}, [x])
    np.testing.assert_array_equal(outs[0], x)
    assert {n.op_type for n in proto.graph.node} == {"Identity"}


@pytest.mark.parametrize("n, length", [(2, 16), (1, 7), (3, 6)])
def test_phase_shuffle_in_training_shifts_each_example_with_reflection(n, length):
    model = shuffle_model(n)
    module = model.to_torch().train()
    rng = np.random.default_rng(n)
    seen = set()
    per_call = []
    for _ in range(4):
        x = rng.standard_normal((16, 3, length)).astype(np.float32)
        y = module(torch.from_numpy(x)).numpy()
        assert y.shape == x.shape and y.dtype == x.dtype
        s = shifts_of(x, y, n)
        per_call.append(s)
        assert len(set(s)) > 1, "every example got the same shift"
        seen |= set(s)
    assert seen == set(range(-n, n + 1))
    assert per_call[0] != per_call[1]


def test_phase_shuffle_is_reproducible_from_the_seed():
    model = shuffle_model(2)
    x = torch.randn(8, 2, 32, generator=torch.Generator().manual_seed(0))
    a = model.to_torch().train()
    b = model.to_torch().train()
    first = a(x)
    torch.testing.assert_close(b(x), first, rtol=0, atol=0)
    # a pickled module (dslc compile --target torch) keeps its seed, not its generator
    c = pickle.loads(pickle.dumps(model.to_torch().train()))
    torch.testing.assert_close(c(x), first, rtol=0, atol=0)
    pickle.dumps(a)                          # also after its generator exists
    a.ps.reseed(7)
    b.ps.reseed(7)
    other = a(x)
    torch.testing.assert_close(b(x), other, rtol=0, atol=0)
    assert shifts_of(x.numpy(), other.numpy(), 2) != shifts_of(x.numpy(), first.numpy(), 2)


def test_phase_shuffle_short_symbolic_length_reflects_repeatedly():
    model = shuffle_model(2)                 # L symbolic: L = 2 is allowed at run time
    module = model.to_torch().train()
    x = np.random.default_rng(5).standard_normal((16, 2, 2)).astype(np.float32)
    y = module(torch.from_numpy(x)).numpy()
    for i in range(16):                      # numpy's reflect pad repeats the reflection too
        assert any(np.array_equal(y[i], c) for c in candidates(x[i], 2).values())


def test_phase_shuffle_half_precision_and_gradients():
    model = shuffle_model(1, dtype="f16")
    module = model.to_torch().train()
    x = torch.randn(4, 3, 9).half()
    y = module(x)
    assert y.dtype == torch.float16
    shifts_of(x.numpy(), y.numpy(), 1)
    x = torch.randn(4, 3, 9, requires_grad=True)
    shuffle_model(1).to_torch().train()(x).sum().backward()
    # each output sample reads one input sample: the gradient counts how often each is read
    assert float(x.grad.sum()) == 4 * 3 * 9 and float(x.grad.min()) >= 0


def test_phase_shuffle_zero_is_the_identity_in_training():
    x = torch.randn(3, 2, 5)
    assert torch.equal(shuffle_model(0).to_torch().train()(x), x)


@pytest.mark.parametrize("text, code", [
    ("input x: f32[N, 8]\n output y = x -> phase_shuffle(2)", "E301"),
    ("input x: i64[N, 2, 8]\n output y = x -> phase_shuffle(2)", "E306"),
    ("input x: f32[N, 2, 2]\n output y = x -> phase_shuffle(2)", "E303"),
    ("input x: f32[N, 2, 8]\n output y = x -> phase_shuffle(-1)", "E205"),
])
def test_phase_shuffle_errors(text, code):
    diags = dslc.check_text("model M {\n " + text + "\n}").errors
    assert [d.code for d in diags] == [code] and diags[0].span.line == 3
