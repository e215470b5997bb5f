"""specs/hf/'s vision, convolutional and audio models against their references: each Hugging Face
model built from the spec header's small config with random weights (drawn afresh, so that the
ones, zeros, 1e-6 layer scales and small initial weights of a fresh model hide nothing:
BatchNorm's running statistics included), saved with save_pretrained (safetensors), its keys
renamed by the spec's `.rename` rules, loaded by name into dslc, and both backends' outputs
compared with the reference's (fp32, 1e-5 of the output's scale) at two values of each symbolic
dim; dslc's parameter count against num_parameters(). The diffusion ResBlock's reference is
diffusers' ResnetBlock2D written out in plain torch here (diffusers is not installed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

import dslc
from dslc import rename_weights
from hf_support import HF_SPECS, checkpoint, compare

transformers = pytest.importorskip("transformers")


def perturbed(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every float tensor of the module drawn afresh, so that nothing of a fresh model hides a
    difference: weight matrices, kernels and embedding tables N(0, 2/fan_in) (HF's N(0, 0.02)
    leaves a deep network's output nearly independent of its input), running variances from
    [0.5, 1.5], every other tensor (biases, norm scales, layer scales, running means, ViT's
    class token and position table) moved by N(0, 0.3)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=gen)
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith("weight") and t.dim() >= 2:
                t.copy_(noise * (2 / t[0].numel()) ** 0.5)
            else:
                t.add_(0.3 * noise)
    return module.eval()


@dataclass
class Case:
    spec: str                                  # specs/hf/<spec>.dl and .rename
    model: str
    build: Callable[[], torch.nn.Module]       # the reference, from the header's config
    inputs: Callable[[dict], list]             # sizes -> the model's inputs, in order
    sizes: tuple                               # two assignments of the symbolic dims
    outputs: tuple = ("last_hidden_state", "pooler_output")   # () for a plain tensor


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


class ResnetBlock2D(torch.nn.Module):
    """diffusers.models.resnet.ResnetBlock2D's computation for time_embedding_norm="default",
    non_linearity="swish", pre_norm, output_scale_factor=1, no up/down sampling (its names)."""

    def __init__(self, in_channels, out_channels, temb_channels=16, groups=8, eps=1e-6, dropout=0.1):
        super().__init__()
        self.norm1 = torch.nn.GroupNorm(groups, in_channels, eps=eps, affine=True)
        self.conv1 = torch.nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1)
        self.time_emb_proj = torch.nn.Linear(temb_channels, out_channels)
        self.norm2 = torch.nn.GroupNorm(groups, out_channels, eps=eps, affine=True)
        self.dropout = torch.nn.Dropout(dropout)
        self.conv2 = torch.nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.conv_shortcut = (torch.nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0)
                              if in_channels != out_channels else None)

    def forward(self, input_tensor, temb):
        act = torch.nn.functional.silu
        hidden = self.conv1(act(self.norm1(input_tensor)))
        hidden = hidden + self.time_emb_proj(act(temb))[:, :, None, None]
        hidden = self.conv2(self.dropout(act(self.norm2(hidden))))
        if self.conv_shortcut is not None:
            input_tensor = self.conv_shortcut(input_tensor)
        return (input_tensor + hidden) / 1.0


def hf_whisper_encoder():
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    cfg = transformers.WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64,
                                     num_mel_bins=8, max_source_positions=16)
    return WhisperEncoder(cfg)


def mel(env):
    return [np.random.default_rng(env["N"]).standard_normal((env["N"], 8, 32)).astype(np.float32)]


def sample_and_temb(env):
    rng = np.random.default_rng(env["N"])
    return [rng.standard_normal((env["N"], 32, env["H"], env["W"])).astype(np.float32),
            rng.standard_normal((env["N"], 16)).astype(np.float32)]


def hf_efficientnet():
    cfg = transformers.EfficientNetConfig(width_coefficient=0.5, depth_coefficient=1.0, in_channels=[32, 16, 24],
                                          out_channels=[16, 24, 40], kernel_sizes=[3, 3, 5], strides=[1, 2, 2],
                                          num_block_repeats=[1, 2, 1], expand_ratios=[1, 6, 6],
                                          depthwise_padding=[3], hidden_dim=640)
    return transformers.EfficientNetModel(cfg)


CONV_SIZES = ({"N": 2, "H": 32, "W": 64}, {"N": 1, "H": 64, "W": 32})
UNET_SIZES = ({"N": 2, "H": 16, "W": 24}, {"N": 1, "H": 8, "W": 8})
CASES = [
    Case("resnet", "ResNetModel", hf_resnet, image, CONV_SIZES),
    Case("convnext", "ConvNextModel", hf_convnext, image, CONV_SIZES),
    Case("unet_resblock", "ResBlockDown", lambda: ResnetBlock2D(32, 64), sample_and_temb, UNET_SIZES, ()),
    Case("unet_resblock", "ResBlockSame", lambda: ResnetBlock2D(32, 32), sample_and_temb, UNET_SIZES, ()),
    Case("whisper_encoder", "WhisperEncoder", hf_whisper_encoder, mel, ({"N": 2}, {"N": 1}), ("last_hidden_state",)),
    Case("vit", "ViTModel", hf_vit, image, ({"N": 2, "H": 32, "W": 32}, {"N": 1, "H": 32, "W": 32})),
    # 48: a strided convolution meets an odd input (3), where TF's SAME pads (1, 1)
    Case("mobilenet_v2", "MobileNetV2Model", hf_mobilenet_v2, image,
         ({"N": 2, "H": 32, "W": 48}, {"N": 1, "H": 48, "W": 32})),
    # 44: block 3's strided depthwise convolution (symmetric padding) meets an odd input (11)
    Case("efficientnet", "EfficientNetModel", hf_efficientnet, image,
         ({"N": 2, "H": 32, "W": 44}, {"N": 1, "H": 44, "W": 32})),
]


def saved(module: torch.nn.Module, folder) -> dict:
    """A Hugging Face model's save_pretrained checkpoint, or a plain module's state_dict written
    and read back as safetensors."""
    if hasattr(module, "save_pretrained"):
        return checkpoint(module, folder)
    from safetensors.numpy import load_file
    from safetensors.torch import save_file
    save_file(module.state_dict(), str(folder / "model.safetensors"))
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module", params=CASES, ids=[c.model for c in CASES])
def loaded(request, tmp_path_factory):
    """(case, dslc model, reference module, the reference's checkpoint renamed for dslc)."""
    case = request.param
    ref = perturbed(case.build())
    state = saved(ref, tmp_path_factory.mktemp(case.spec))
    model = dslc.load(HF_SPECS / f"{case.spec}.dl").models[case.model]
    return case, model, ref, rename_weights(state, HF_SPECS / f"{case.spec}.rename")


def test_parameter_count(loaded):
    _, model, ref, _ = loaded
    count = (ref.num_parameters() if hasattr(ref, "num_parameters")
             else sum(p.numel() for p in ref.parameters()))
    assert model.params == count


@pytest.mark.parametrize("which", [0, 1])
def test_outputs(loaded, which):
    case, model, ref, weights = loaded
    xs = case.inputs(case.sizes[which])
    with torch.no_grad():
        out = ref(*[torch.from_numpy(x) for x in xs])
    want = [getattr(out, name).numpy() for name in case.outputs] if case.outputs else out.numpy()
    # 1e-5 relative to the output's scale: the deeper convolutional nets' fp32 outputs differ
    # from their own fp64 by 3e-5 to 5e-5 (on values up to 6 and 100, measured), onnxruntime's no more
    scale = max(float(np.abs(w).max()) for w in (want if isinstance(want, list) else [want]))
    compare(model, weights, xs, want, atol=1e-5 * scale)
