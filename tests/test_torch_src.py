"""`--target torch-src`: the generated module, imported from its file with only torch at hand,
loads the interpreter's state_dict with strict=True (identical keys and shapes) and computes
the interpreter's outputs in eval mode, on every valid spec; it scripts with torch.jit.script.

`# ir-only` specs (LLaMA-7B) and models above BIG parameters are checked on the meta device
(keys, shapes, scripting) without allocating weights; the others run at the two sizes of each
symbolic dim of tests/test_specs.py."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

import dslc
from specfiles import envs, int_ranges, ir_only, valid_specs
from support import make_inputs, random_weights

torch = pytest.importorskip("torch")

BIG = 3_000_000
CASES = [(path, name) for path in valid_specs()
         for name in re.findall(r"^\s*model\s+(\w+)", path.read_text(), re.M)]


def _import(source: str, tmp_path, stem: str):
    """The generated module, imported from a file (torch.jit.script reads the source)."""
    file = tmp_path / f"{stem}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(stem, file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].parent.name}/{c[0].stem}:{c[1]}")
def test_generated_module_matches_the_interpreter(case, tmp_path):
    from dslc.backends.torch.module import DslcModule, _tie
    path, name = case
    model = dslc.load(path).models[name]
    source = model.to_torch_src()
    gen = _import(source, tmp_path, f"gen_{_ident(name)}")
    cls = getattr(gen, _ident(name))
    if model.params > BIG or ir_only(path):
        with torch.device("meta"):
            mine, ref = cls(), DslcModule(model)
            _tie(ref, model)
        shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}
        assert shapes(mine) == shapes(ref)
    else:
        mine = _matches_the_interpreter(model, cls, envs(model, path), int_ranges(path))
    torch.jit.script(mine)


def _matches_the_interpreter(model, cls, sizes, highs=None):
    """cls() with the interpreter's random weights (strict=True) gives its outputs in eval mode
    at each of `sizes` (symbol -> size); returns the generated module."""
    ref = model.to_torch(weights=random_weights(model)).eval()
    mine = cls()
    mine.load_state_dict(ref.state_dict(), strict=True)
    mine.eval()
    assert list(mine.state_dict()) == list(ref.state_dict())
    for seed, env in enumerate(sizes):
        xs = [torch.from_numpy(x) for x in make_inputs(model, env, seed, highs=highs)]
        with torch.no_grad():
            want = ref(*xs)
            got = mine(**{_ident(p.name): x for p, x in zip(model.inputs, xs)})
        want = want if isinstance(want, tuple) else (want,)
        got = tuple(got) if isinstance(got, tuple) else (got,)
        assert len(got) == len(want) == len(model.outputs)
        for port, a, b in zip(model.outputs, want, got):
            assert a.shape == b.shape and a.dtype == b.dtype, port.name
            if a.is_floating_point():
                torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5, msg=port.name)
            else:
                assert torch.equal(a, b), port.name
    return mine


# A parameter-free block called at model level and again inside another block.
SWISH = """block Swish(x: [N, C, H, W]) {
    return x * sigmoid(x)
}
block MB(x: [N, C, H, W]) {
    return x -> conv2d(C, 3, padding=1) -> Swish
}
model Net {
    input x: f32[N, 3, 8, 8]
    output y = x -> conv2d(8, 3, padding=1) -> Swish -> MB
}
"""


def test_a_stateless_block_called_at_two_depths(tmp_path):
    """Each call of Swish runs a module of its own scope: the inner call once reused the outer
    one's, a name MB's class does not hold (`self._1(...)`)."""
    model = dslc.check_text(SWISH, "swish.dl").models["Net"]
    gen = _import(model.to_torch_src(), tmp_path, "gen_swish")
    net = _matches_the_interpreter(model, gen.Net, [{"N": 2}])
    assert type(net.MB_1.Swish_1).__name__ == type(net.Swish_1).__name__ == "Swish"
