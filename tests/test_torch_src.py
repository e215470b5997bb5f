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


def _case_id(case) -> str:
    return f"{case[0].parent.name}/{case[0].stem}:{case[1]}"


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


@pytest.mark.parametrize("case", CASES, ids=_case_id)
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


def _written_with(monkeypatch, kind: str, entry):
    """torch-src's writer with `entry(op, c)` in place of the table's for the ops of `kind`."""
    from dslc.backends.torch_src import writer
    real = writer.write
    monkeypatch.setattr(writer, "write",
                        lambda op, c: entry(op, c) if op.kind == kind else real(op, c))


@pytest.mark.parametrize("entry,where,why", [
    (lambda op, c: c.set(f"torch.sigmoid({c.ins[0]}"), "swish.dl:2:", "which is not Python"),
    (lambda op, c: c.module("NoSuchModule()"), "swish.dl:7:", "does not import"),
    (lambda op, c: c.module("nn.Linear(2, 2)"), "swish.dl:7:", "not the IR's"),
], ids=["syntax", "import", "parameters"])
def test_a_file_that_would_not_import_is_an_error_not_a_file(entry, where, why, monkeypatch,
                                                             tmp_path, capsys):
    """The text is compiled and its module built on the meta device before it is written: a
    statement that is not Python is an E401 at its node's line, a file that does not import
    or holds other parameters than the IR's an internal error at the model's; exit 1."""
    from dslc.cli import main
    _written_with(monkeypatch, "sigmoid", entry)
    spec, out = tmp_path / "swish.dl", tmp_path / "net.py"
    spec.write_text(SWISH)
    assert main(["compile", str(spec), "--target", "torch-src", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert not out.exists() and "error[E401]" in err and where in err and why in err


def test_source_imports_only_torch():
    model = dslc.load(next(p for p in valid_specs() if p.name == "set_transformer.dl")) \
        .models["SetTransformer"]
    imports = re.findall(r"^(?:from (\S+) import|import (\S+))", model.to_torch_src(), re.M)
    assert {a or b for a, b in imports} == {"math", "typing", "torch", "torch.nn.functional"}


def test_blocks_print_by_name_and_outputs_are_named(tmp_path):
    path = next(p for p in valid_specs() if p.parent.name == "zoo" and p.name == "resnet.dl")
    gen = _import(dslc.load(path).models["ResNet18"].to_torch_src(), tmp_path, "gen_resnet")
    with torch.device("meta"):
        net = gen.ResNet18()
    assert type(net.layer1[0]).__name__ == "Basic" and "(layer1): ModuleList(" in repr(net)
    text = """model Two {
        input x: f32[N, 4]
        output y = x -> dense(3, name=head)
        output z = x -> relu
    }"""
    src = dslc.check_text(text, "two.dl").models["Two"].to_torch_src()
    two = _import(src, tmp_path, "gen_two").Two()
    out = two(x=torch.ones(2, 4))
    assert out._fields == ("y", "z") and torch.equal(out.z, torch.ones(2, 4))
    torch.testing.assert_close(out.y, two.head(torch.ones(2, 4)))


def test_cli_writes_the_module(tmp_path):
    path = next(p for p in valid_specs() if p.name == "siamese.dl")
    out = tmp_path / "model.py"
    run = subprocess.run([sys.executable, "-m", "dslc", "compile", str(path), "--target",
                          "torch-src", "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    gen = _import(out.read_text(), tmp_path, "model")
    net = gen.Siamese()
    assert set(net.state_dict()) == set(dslc.load(path).models["Siamese"].param_shapes())


@pytest.mark.parametrize("spec,name,dtype", [("char_gpt.dl", "CharGPT", "f16"),
                                             ("lenet.dl", "LeNet", "f64")])
def test_precision_matches_the_interpreter(spec, name, dtype, tmp_path):
    """--dtype: parameters in that dtype, precise ops (layernorm, attention) in f32 around
    half-precision tensors, as the interpreter runs them."""
    path = next(p for p in valid_specs() if p.name == spec)
    model = dslc.load(path).models[name]
    ref = model.to_torch(weights=random_weights(model), dtype=dtype).eval()
    mine = getattr(_import(model.to_torch_src(dtype=dtype), tmp_path, f"gen_{dtype}"), name)()
    mine.load_state_dict(ref.state_dict(), strict=True)
    mine.eval()
    typed = model.with_dtype(dtype)
    xs = [torch.from_numpy(x) for x in make_inputs(typed, envs(typed, path)[0])]
    with torch.no_grad():
        want, got = ref(*xs), mine(*xs)
    assert got.dtype == want.dtype == getattr(torch, {"f16": "float16", "f64": "float64"}[dtype])
    torch.testing.assert_close(got, want, rtol=0, atol=0)
