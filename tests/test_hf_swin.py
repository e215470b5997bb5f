"""specs/hf/swin.dl against Hugging Face's SwinModel: the model built from the spec header's
config with every weight drawn afresh (test_hf_vision.perturbed: the relative position bias
tables, zeros at init, included), saved with save_pretrained (safetensors), renamed by
swin.rename, loaded by name into dslc, and both backends' outputs compared with HF's (fp32, 1e-5
of the output's scale) at two image sizes: 64x96 and 96x64, where every stage has more than
one window along each axis, so that both stages' shifted layers roll and mask across windows.
Sizes whose shorter side is 32 are left out: there HF clamps stage 1's window to its 4-token
grid and drops the shift (the spec's `where H >= 64` says so)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from dslc import rename_weights
from hf_support import HF_SPECS, checkpoint, compare
from test_hf_vision import image, perturbed

transformers = pytest.importorskip("transformers")

SIZES = ({"N": 2, "H": 64, "W": 96}, {"N": 1, "H": 96, "W": 64})


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """(dslc model, HF SwinModel, its checkpoint renamed for dslc)."""
    cfg = transformers.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                                  window_size=4, mlp_ratio=2)
    ref = perturbed(transformers.SwinModel(cfg))
    state = checkpoint(ref, tmp_path_factory.mktemp("swin"))
    model = dslc.load(HF_SPECS / "swin.dl").models["SwinModel"]
    return model, ref, rename_weights(state, HF_SPECS / "swin.rename")


def test_parameter_count(loaded):
    model, ref, _ = loaded
    assert model.params == ref.num_parameters()


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"{s['H']}x{s['W']}")
def test_outputs(loaded, sizes):
    model, ref, weights = loaded
    xs = image(sizes)
    with torch.no_grad():
        out = ref(torch.from_numpy(xs[0]))
    want = [out.last_hidden_state.numpy(), out.pooler_output.numpy()]
    # measured: torch 2.4e-6, onnxruntime 3.0e-6 on outputs up to 3.5
    compare(model, weights, xs, want, atol=1e-5 * max(float(np.abs(w).max()) for w in want))
