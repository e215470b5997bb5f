"""The emitted torch module on existing engines (issue 10, item 7): DistributedDataParallel
with the gloo backend in two CPU processes keeps the replicas' parameters equal while each
trains on its own data, and torch.compile captures the interpreter module in one graph."""
from __future__ import annotations

import pytest

import dslc
from specfiles import ROOT

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

SPEC = ("model Net {\n    input x: f32[N, 8]\n"
        "    output y = x -> dense(16) -> relu -> batchnorm -> dense(2)\n}\n")


def _train(rank: int, world: int, init: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    module = dslc.check_text(SPEC).models["Net"].to_torch(seed=0)
    ddp = torch.nn.parallel.DistributedDataParallel(module)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(rank)           # each replica its own batches
    for _ in range(3):
        x, t = torch.randn(16, 8, generator=g), torch.randint(0, 2, (16,), generator=g)
        loss = torch.nn.functional.cross_entropy(ddp(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save({k: v.detach().clone() for k, v in module.named_parameters()}, f"{out}/{rank}.pt")
    dist.barrier()          # both done before either tears gloo down (else: SIGABRT at exit)
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo")
def test_ddp_with_gloo_keeps_the_replicas_equal(tmp_path):
    import torch.multiprocessing as mp
    mp.spawn(_train, args=(2, f"file://{tmp_path}/rendezvous", str(tmp_path)), nprocs=2)
    a, b = torch.load(tmp_path / "0.pt"), torch.load(tmp_path / "1.pt")
    start = dict(dslc.check_text(SPEC).models["Net"].to_torch(seed=0).named_parameters())
    assert set(a) == set(b) == set(start)
    for k in a:
        assert torch.equal(a[k], b[k]), k                   # gradients were all-reduced
        assert not torch.equal(a[k], start[k].detach()), k  # and the replicas did train


def test_torch_compile_captures_the_module_in_one_graph():
    model = dslc.load(ROOT / "specs" / "seeds" / "lenet.dl").models["LeNet"]
    module = model.to_torch(seed=0).eval()
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), module(x))
