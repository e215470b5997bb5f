"""`--target torch-src`: the generated module, imported from its file with only torch at hand,
loads the interpreter's state_dict with strict=True (identical keys and shapes) and computes
the interpreter's outputs in eval mode, on every valid spec; it scripts with torch.jit.script.

Models above BIG parameters are checked on the meta device (keys, shapes, scripting) without
allocating weights; the others run at the two sizes of each symbolic dim of tests/test_specs.py."""
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
CASES = [(path, name) for path in valid_specs() if not ir_only(path)
         for name in re.findall(r"^\s*model\s+(\w+)", path.read_text(), re.M)]


# Specs whose reshapes compute a size at run time (the interpreter's ComputedReshape): torch-src
# has no source form for them yet, and must refuse them at the layer (E401), not write a
# module that misreads the plan. The list is exact: an entry that torch-src writes fails.
TORCH_SRC_REFUSES = {"ops/reshape_fold:Fold", "ops/runtime_sizes:GroupNorm",
                     "ops/runtime_sizes:Window", "ops/runtime_sizes:Fold8"}


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
    from dslc.backends import BackendError
    from dslc.backends.torch.module import DslcModule, _tie
    path, name = case
    model = dslc.load(path).models[name]
    if _case_id(case) in TORCH_SRC_REFUSES:
        with pytest.raises(BackendError) as err:
            model.to_torch_src()
        assert {d.code for d in err.value.diagnostics} == {"E401"}
        return
    source = model.to_torch_src()
    gen = _import(source, tmp_path, f"gen_{_ident(name)}")
    cls = getattr(gen, _ident(name))
    if model.params > BIG:
        with torch.device("meta"):
            mine, ref = cls(), DslcModule(model)
            _tie(ref, model)
        shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}
        assert shapes(mine) == shapes(ref)
    else:
        ref = model.to_torch(weights=random_weights(model)).eval()
        mine = cls()
        mine.load_state_dict(ref.state_dict(), strict=True)
        mine.eval()
        assert list(mine.state_dict()) == list(ref.state_dict())
        for seed, env in enumerate(envs(model, path)):
            xs = [torch.from_numpy(x) for x in make_inputs(model, env, seed,
                                                          highs=int_ranges(path))]
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
    torch.jit.script(mine)


def test_source_imports_only_torch():
    model = dslc.load(next(p for p in valid_specs() if p.name == "set_transformer.dl")) \
        .models["SetTransformer"]
    imports = re.findall(r"^(?:from (\S+) import|import (\S+))", model.to_torch_src(), re.M)
    assert {a or b for a, b in imports} == {"math", "typing", "torch", "torch.nn.functional"}


def test_blocks_print_by_name_and_outputs_are_named(tmp_path):
    path = next(p for p in valid_specs() if p.name == "resnet.dl")
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
