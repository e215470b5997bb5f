"""specs/hf/'s vision, convolutional and audio models against their references: each Hugging Face
model built from the spec header's small config with random weights (perturbed, so that the
ones, zeros and 1e-6 layer scales of a fresh model hide nothing: BatchNorm's running statistics
included), saved with save_pretrained (safetensors), its keys renamed by the spec's `.rename`
rules, loaded by name into dslc, and both backends' outputs compared with the reference's
(fp32, 1e-5) at two values of each symbolic dim; dslc's parameter count against
num_parameters(). The diffusion ResBlock's reference is diffusers' ResnetBlock2D written out in
plain torch here (diffusers is not installed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

import dslc
from hf_support import HF_SPECS, checkpoint, compare, read_rules, rename

transformers = pytest.importorskip("transformers")


def perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every float tensor of the module moved off its initial value: running variances drawn
    from [0.5, 1.5], constant tensors (norm scales, layer scales, zero biases) by N(0, 0.3),
    the rest by a tenth of their own spread."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            else:
                spread = float(t.std()) if t.numel() > 1 else 0.0
                t.add_(torch.randn(t.shape, generator=gen) * (0.1 * spread if spread > 1e-3 else 0.3))
    return module.eval()


@dataclass
class Case:
    spec: str                                  # specs/hf/<spec>.dl and .rename
    model: str
    build: Callable[[], torch.nn.Module]       # the reference, from the header's config
    inputs: Callable[[dict], list]             # sizes -> the model's inputs, in order
    sizes: tuple                               # two assignments of the symbolic dims
    outputs: tuple = ("last_hidden_state", "pooler_output")


def image(env):
    return [np.random.default_rng(env["N"]).standard_normal((env["N"], 3, env["H"], env["W"])).astype(np.float32)]


def hf_resnet():
    cfg = transformers.ResNetConfig(embedding_size=16, hidden_sizes=[32, 48, 64, 96], depths=[1, 2, 1, 1],
                                    layer_type="bottleneck", hidden_act="relu")
    return transformers.ResNetModel(cfg)


def hf_convnext():
    cfg = transformers.ConvNextConfig(hidden_sizes=[16, 32, 48, 64], depths=[1, 2, 1, 1], drop_path_rate=0.1)
    return transformers.ConvNextModel(cfg)


def hf_vit():
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                 image_size=32, patch_size=8)
    return transformers.ViTModel(cfg)


def hf_mobilenet_v2():
    cfg = transformers.MobileNetV2Config(depth_multiplier=0.25, finegrained_output=False)
    return transformers.MobileNetV2Model(cfg)


CONV_SIZES = ({"N": 2, "H": 32, "W": 64}, {"N": 1, "H": 64, "W": 32})
CASES = [
    Case("resnet", "ResNetModel", hf_resnet, image, CONV_SIZES),
    Case("convnext", "ConvNextModel", hf_convnext, image, CONV_SIZES),
    Case("vit", "ViTModel", hf_vit, image, ({"N": 2, "H": 32, "W": 32}, {"N": 1, "H": 32, "W": 32})),
    # 48: a strided convolution meets an odd input (3), where TF's SAME pads (1, 1)
    Case("mobilenet_v2", "MobileNetV2Model", hf_mobilenet_v2, image,
         ({"N": 2, "H": 32, "W": 48}, {"N": 1, "H": 48, "W": 32})),
]


@pytest.fixture(scope="module", params=CASES, ids=[c.spec for c in CASES])
def loaded(request, tmp_path_factory):
    """(case, dslc model, reference module, the reference's checkpoint renamed for dslc)."""
    case = request.param
    ref = perturbed(case.build())
    state = checkpoint(ref, tmp_path_factory.mktemp(case.spec))
    model = dslc.load(HF_SPECS / f"{case.spec}.dl").models[case.model]
    return case, model, ref, rename(state, read_rules(HF_SPECS / f"{case.spec}.rename"))


def test_parameter_count(loaded):
    _, model, ref, _ = loaded
    assert model.params == ref.num_parameters()


@pytest.mark.parametrize("which", [0, 1])
def test_outputs(loaded, which):
    case, model, ref, weights = loaded
    xs = case.inputs(case.sizes[which])
    with torch.no_grad():
        out = ref(*[torch.from_numpy(x) for x in xs])
    want = [getattr(out, name).numpy() for name in case.outputs]
    compare(model, weights, xs, want)
