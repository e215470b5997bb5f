"""weight_norm=true on dense and the convolutions against torch's own
torch.nn.utils.parametrizations.weight_norm(module, dim=0): a torch checkpoint loads by name
(strict) into the torch module, the torch-src module and the ONNX graph and gives torch's
outputs; the default init is torch's (v drawn as the plain layer's weight, g = ||v||); ties,
gradients and pickling (`--target torch`)."""
from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

import dslc
from dslc.backends import BackendError

G, V = "parametrizations.weight.original0", "parametrizations.weight.original1"
TCN = dslc.load("specs/seq/tcn.dl").models["TCN"]


class _Block(nn.Module):
    """locuslab/TCN's TemporalBlock (eval mode): conv, chomp, relu, twice; a 1x1 downsample."""

    def __init__(self, c_in, c_out, k, d):
        super().__init__()
        self.pad = (k - 1) * d
        self.conv1 = weight_norm(nn.Conv1d(c_in, c_out, k, padding=self.pad, dilation=d))
        self.conv2 = weight_norm(nn.Conv1d(c_out, c_out, k, padding=self.pad, dilation=d))
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x):
        h = torch.relu(self.conv1(x)[..., :-self.pad])
        h = torch.relu(self.conv2(h)[..., :-self.pad])
        return torch.relu(h + (x if self.downsample is None else self.downsample(x)))


class _TCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1, self.block2 = _Block(2, 8, 3, 1), _Block(8, 8, 3, 2)
        self.head = weight_norm(nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.block2(self.block1(x)).transpose(1, 2))


def _perturbed(module: nn.Module) -> dict:
    """The module's state_dict with g moved off ||v||: the checkpoint of a trained model."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(G):
                p.mul_(torch.rand_like(p) + 0.5)
    return module.state_dict()


def _three(model, state: dict, xs, tmp_path) -> dict:
    """The outputs of the three backends with `state` loaded strictly by name (the torch-src
    module from a file, which torch.jit.script reads)."""
    weights = {k: v.numpy() for k, v in state.items()}
    mine = model.to_torch(weights=weights).eval()
    assert list(mine.state_dict()) == list(state)
    file = tmp_path / "generated.py"
    file.write_text(model.to_torch_src())
    spec = importlib.util.spec_from_file_location("generated", file)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    src = getattr(gen, model.name)().eval()
    src.load_state_dict(state, strict=True)
    torch.jit.script(src)
    import onnxruntime as ort
    sess = ort.InferenceSession(model.to_onnx(weights=weights).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    with torch.no_grad():
        return {"torch": mine(*map(torch.from_numpy, xs)).numpy(),
                "torch-src": src(*map(torch.from_numpy, xs)).numpy(),
                "onnx": sess.run(None, {p.name: x for p, x in zip(model.inputs, xs)})[0]}


def test_tcn_loads_a_torch_checkpoint_by_name(tmp_path):
    ref = _TCN().eval()
    state = _perturbed(ref)
    assert TCN.params == sum(p.numel() for p in ref.parameters()) == 742
    assert set(TCN.param_shapes()) == set(state)
    for t in (9, 4):
        x = np.random.default_rng(t).standard_normal((2, 2, t)).astype(np.float32)
        with torch.no_grad():
            want = ref(torch.from_numpy(x)).numpy()
        for backend, got in _three(TCN, state, [x], tmp_path).items():
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=backend)


# (snippet, input shape, torch's plain layer (None: _Transposed), the torch output -> dslc's)
LAYERS = [
    ("dense(5, transpose=true, weight_norm=true)", (2, 3, 7), None, None),
    ("conv1d(4, 3, padding=1, padding_mode=reflect, weight_norm=true)", (2, 3, 8),
     lambda: nn.Conv1d(3, 4, 3, padding=1, padding_mode="reflect"), None),
    ("conv3d(2, 2, bias=false, weight_norm=true)", (1, 2, 3, 4, 3),
     lambda: nn.Conv3d(2, 2, 2, bias=False), None),
    # unequal pads: torch's unpadded output, cropped at the begin only
    ("conv_transpose1d(3, 3, stride=2, padding=(1, 0), weight_norm=true)", (1, 2, 5),
     lambda: nn.ConvTranspose1d(2, 3, 3, 2), lambda y: y[..., 1:]),
    ("conv_transpose2d(4, 3, stride=2, groups=2, weight_norm=true)", (1, 2, 3, 4),
     lambda: nn.ConvTranspose2d(2, 4, 3, 2, groups=2), None),
]


class _Transposed(nn.Module):
    """y = x W + b with W stored [in, out] (dense(transpose=true)): torch's dim 0 is `in`."""

    def __init__(self):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.randn(7, 5)), nn.Parameter(torch.randn(5))

    def forward(self, x):
        return x @ self.weight + self.bias


def _one(snippet, shape):
    dims = ", ".join(map(str, shape))
    return dslc.check_text(f"model M {{\n    input x: f32[{dims}]\n"
                           f"    output y = x -> {snippet}\n}}\n").models["M"]


@pytest.mark.parametrize("snippet, shape, plain, crop", LAYERS, ids=[r[0] for r in LAYERS])
def test_layer_matches_torchs_weight_norm(snippet, shape, plain, crop, tmp_path):
    model = _one(snippet, shape)
    ref = weight_norm((plain or _Transposed)(), dim=0)
    state = {f"{model.nodes[0].name}.{k}": v for k, v in _perturbed(ref).items()}
    assert model.params == sum(v.numel() for v in state.values())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x))
    want = (crop(want) if crop else want).numpy()
    for backend, got in _three(model, state, [x], tmp_path).items():
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=backend)


@pytest.mark.parametrize("snippet, shape, plain", [
    ("dense(5, weight_norm=true)", (2, 7), lambda: nn.Linear(7, 5)),
    ("conv2d(4, 3, groups=2, weight_norm=true)", (1, 2, 5, 5),
     lambda: nn.Conv2d(2, 4, 3, groups=2)),
    ("conv_transpose1d(6, 3, groups=3, weight_norm=true)", (1, 3, 4),
     lambda: nn.ConvTranspose1d(3, 6, 3, groups=3)),
])
def test_default_init_is_torchs(snippet, shape, plain):
    """v drawn as torch draws the plain layer's weight (U(-1/sqrt(fan_in), ..), torch's own
    fan_in), g = ||v|| over every dim but 0: the effective weight is v."""
    weights = _one(snippet, shape).weights(3)
    layer = next(k.rsplit(".", 3)[0] for k in weights if k.endswith(V))
    g, v = (torch.from_numpy(weights[f"{layer}.{k}"]) for k in (G, V))
    bound = 1 / np.sqrt(nn.init._calculate_fan_in_and_fan_out(plain().weight)[0])
    assert v.abs().max() <= bound and v.abs().max() > 0.8 * bound
    norm = torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)
    torch.testing.assert_close(g, norm, rtol=1e-6, atol=0)
    torch.testing.assert_close(torch._weight_norm(v, g, 0), v, rtol=1e-6, atol=1e-7)


def test_a_bare_init_sets_v_and_g_follows():
    weights = _one("dense(5, weight_norm=true, init=constant(0.5))", (2, 4)).weights(0)
    np.testing.assert_array_equal(weights[f"dense_1.{V}"], np.full((5, 4), 0.5, np.float32))
    np.testing.assert_allclose(weights[f"dense_1.{G}"], np.full((5, 1), 0.5 * 2.0), rtol=1e-6)


_TIED = dslc.check_text("""model M {
    input x: f32[N, 4]
    output y = x -> dense(4, weight_norm=true, name=a) -> relu
                 -> dense(4, weight_norm=true, tie=a, name=b)
}
""").models["M"]


def test_a_tied_weight_normed_layer_uses_its_owners_g_and_v(tmp_path):
    ref = weight_norm(nn.Linear(4, 4))
    state = {f"a.{k}": v for k, v in _perturbed(ref).items()}
    assert _TIED.params == 24
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.relu(ref(torch.from_numpy(x)))).numpy()
    for backend, got in _three(_TIED, state, [x], tmp_path).items():
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=backend)


def test_a_layer_tied_by_parameter_has_no_source_form():
    model = dslc.check_text("""model M {
    input x: f32[N, 4]
    output y = x -> dense(4, weight_norm=true, name=a) -> dense(4, weight_norm=true, tie={bias: a})
}
""").models["M"]
    with pytest.raises(BackendError, match="weight-normed layer tied by parameter") as e:
        model.to_torch_src()
    assert e.value.diagnostics[0].span.line == 3


def test_torch_module_trains_as_torchs_and_pickles():
    """The gradients of g and v are those of torch's parametrization; `--target torch` pickles
    the module (torch's parametrized classes refuse to)."""
    model = _one("dense(5, weight_norm=true)", (3, 7))
    ref = weight_norm(nn.Linear(7, 5))
    state = _perturbed(ref)
    mine = model.to_torch(weights={f"dense_1.{k}": v.numpy() for k, v in state.items()})
    x = torch.randn(3, 7)
    mine(x).square().sum().backward()
    ref(x).square().sum().backward()
    layer = dict(mine.named_parameters())
    for k, p in ref.named_parameters():
        torch.testing.assert_close(layer[f"dense_1.{k}"].grad, p.grad)
    buf = io.BytesIO()
    torch.save(mine, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=False)
    torch.testing.assert_close(again(x), ref(x))

