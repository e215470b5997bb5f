"""specs/training/: transfer learning (a frozen ResNet-18 backbone and a new head) and
distillation (a teacher and a student in one file), trained for a step or a few in torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dslc
from specfiles import SPECS

# torchvision.models.resnet18: 11,689,512 parameters, of which fc (512 -> 1000) 513,000
RESNET18, FC = 11_689_512, 512 * 1000 + 1000
HEAD = 512 * 10 + 10
# batchnorm channels of resnet18: bn1 64; layer1 4 x 64; layer2..4: 4 convs + 1 downsample each
BN_CHANNELS = 64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512


@pytest.fixture(scope="module")
def transfer():
    model = dslc.load(SPECS / "training" / "transfer.dl").models["Transfer"]
    return model, model.to_torch(seed=0)


def test_transfer_counts(transfer):
    model, module = transfer
    assert model.params == RESNET18 - FC + HEAD == 11_181_642
    assert model.trainable_params == HEAD == 5_130
    assert sum(p.numel() for p in module.parameters() if p.requires_grad) == HEAD
    assert sum(p.numel() for p in module.parameters()) == model.params


def test_only_the_head_requires_grad(transfer):
    _, module = transfer
    grads = dict((n, p.requires_grad) for n, p in module.named_parameters())
    backbone = [n for n in grads if n.startswith("backbone.")]
    assert len(backbone) == 20 + 2 * 20        # 20 convs (no bias), 20 batchnorms' weight and bias
    assert not any(grads[n] for n in backbone)
    assert {n for n, g in grads.items() if g} == {"head.weight", "head.bias"}
    assert set(grads) == set(backbone) | {"head.weight", "head.bias"}


def test_backbone_batchnorm_statistics_are_buffers_in_the_state_dict(transfer):
    model, module = transfer
    state = module.state_dict()
    means = [k for k in state if k.startswith("backbone.") and k.endswith("running_mean")]
    variances = [k for k in state if k.startswith("backbone.") and k.endswith("running_var")]
    assert len(means) == len(variances) == 20                 # resnet18's 20 batchnorms
    assert sum(state[k].numel() for k in means + variances) == 2 * BN_CHANNELS == model.buffers
    assert all(k[:-len("running_mean")] + "num_batches_tracked" in state for k in means)
    params = {n for n, _ in module.named_parameters()}
    assert not params & set(means + variances)                # buffers, not parameters


def _step(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 64, 64, generator=g)
    target = torch.tensor([3, 7])
    opt = torch.optim.SGD(module.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(module(x), target).backward()
    opt.step()


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_one_sgd_step_changes_only_the_head():
    model = dslc.load(SPECS / "training" / "transfer.dl").models["Transfer"]
    module = model.to_torch(seed=0).train()
    before = _snapshot(module)
    _step(module)
    after = module.state_dict()
    params = dict(module.named_parameters())
    for name in params:
        changed = not torch.equal(before[name], after[name])
        assert changed == name.startswith("head."), name
        if name.startswith("backbone."):
            assert params[name].grad is None, name         # no gradient computed for it
    # frozen= freezes parameters; in train mode batchnorm still updates its running statistics,
    # as torch's does. The feature-extractor recipe puts the backbone in eval mode too:
    stats = [k for k in after if k.endswith("running_mean")]
    assert all(not torch.equal(before[k], after[k]) for k in stats)
    module = model.to_torch(seed=0).train()
    module.get_submodule("backbone").eval()
    before = _snapshot(module)
    _step(module)
    after = module.state_dict()
    assert [k for k in after if not torch.equal(before[k], after[k])] == ["head.weight", "head.bias"]


def test_trained_head_deploys_to_onnx():
    import onnxruntime as ort
    model = dslc.load(SPECS / "training" / "transfer.dl").models["Transfer"]
    module = model.to_torch(seed=0).train()
    module.get_submodule("backbone").eval()
    _step(module)
    module.eval()
    proto = model.to_onnx(weights=module.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 96)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    assert got.shape == (2, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    fresh = model.to_torch(seed=0).eval()
    with torch.no_grad():
        assert not np.allclose(fresh(torch.from_numpy(x)).numpy(), want)   # the step mattered


def test_student_learns_the_teachers_soft_targets():
    """Hinton's distillation loss: KL(softmax(teacher / T) || softmax(student / T)) * T^2, the
    teacher fixed (eval, no gradients); the student's loss falls over a few Adam steps."""
    program = dslc.load(SPECS / "training" / "distill.dl")
    teacher = program.models["Teacher"].to_torch(seed=0).eval()
    student = program.models["Student"].to_torch(seed=1).train()
    T = 4.0
    x = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        soft = torch.softmax(teacher(x) * 10 / T, dim=1)       # sharpen the random teacher
    opt = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        log_p = torch.log_softmax(student(x) / T, dim=1)
        loss = torch.nn.functional.kl_div(log_p, soft, reduction="batchmean") * T * T
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(p.grad is None for p in teacher.parameters())
