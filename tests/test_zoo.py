"""The convolutional zoo against independent references: torchvision's published counts
(in the specs' comments, checked by tests/test_specs.py) and, for the U-Net, a plain-torch
implementation written here without dslc."""
from __future__ import annotations

import pytest

import dslc
from specfiles import ROOT, references


def _torch_unet(base: int = 16, classes: int = 2):
    import torch
    from torch import nn

    def double(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class TorchUNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = [base * 2 ** i for i in range(5)]
            self.inc = double(3, w[0])
            self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), double(w[i], w[i + 1]))
                                       for i in range(4))
            self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i + 1] // 2, 2, stride=2)
                                     for i in reversed(range(4)))
            self.convs = nn.ModuleList(double(w[i] + w[i + 1] // 2, w[i]) for i in reversed(range(4)))
            self.out = nn.Conv2d(w[0], classes, 1)

        def forward(self, x):
            skips = [self.inc(x)]
            for d in self.downs:
                skips.append(d(skips[-1]))
            y = skips.pop()
            for up, conv in zip(self.ups, self.convs):
                y = conv(torch.cat([skips.pop(), up(y)], dim=1))
            return self.out(y)

    return TorchUNet()


def test_unet_matches_an_independent_torch_unet():
    import torch
    ref = _torch_unet()
    numel = sum(p.numel() for p in ref.parameters())
    path = ROOT / "specs" / "zoo" / "unet.dl"
    model = dslc.load(path).models["UNet"]
    assert references(path)["UNet"] == numel == model.params
    with torch.no_grad():
        assert ref(torch.zeros(1, 3, 64, 48)).shape == (1, 2, 64, 48)
    assert str(model.outputs[0].type) == "f32[N, 2, H, W]"


@pytest.mark.parametrize("name, shape", [
    ("ResNet50", "f32[N, 2048, H/32, W/32]"), ("DenseNet121", "f32[N, 1024, H/32, W/32]"),
    ("MobileNetV2", "f32[N, 1280, H/32, W/32]"), ("GoogLeNet", "f32[N, 1024, H/32, W/32]")])
def test_feature_maps_stay_symbolic(name, shape):
    files = {"ResNet50": "resnet", "DenseNet121": "densenet", "MobileNetV2": "mobilenet_v2",
             "GoogLeNet": "googlenet"}
    model = dslc.load(ROOT / "specs" / "zoo" / f"{files[name]}.dl").models[name]
    pooled = [n for n in model.nodes if n.kind == "global_avgpool"][0]
    assert str(pooled.in_types[0]) == shape


def test_resnet_names_follow_the_spec():
    model = dslc.load(ROOT / "specs" / "zoo" / "resnet.dl").models["ResNet18"]
    keys = set(model.param_shapes())
    assert "layer1.0.conv2d_1.weight" in keys and "fc.weight" in keys
    assert "Basic_1.conv2d_3.weight" in keys      # the projection of the first stride-2 block
