"""Shared test machinery: the command line in-process, random weights, concrete inputs, torch,
torch-src and onnxruntime runs."""
from __future__ import annotations

import numpy as np

from dslc.ir.dims import Dim


def random_weights(model, seed: int = 0) -> dict[str, np.ndarray]:
    """The model's own weights, perturbed so that identity-like inits (BatchNorm 1/0, running
    stats 0/1) cannot hide a lowering bug."""
    rng = np.random.default_rng(seed + 1234)
    out = {}
    for k, v in model.weights(seed).items():
        if k.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, size=v.shape)
        elif k.endswith("running_mean"):
            v = rng.normal(0.0, 0.1, size=v.shape)
        else:   # noise on the tensor's own scale, so that deep nets keep O(1) activations
            scale = float(np.std(v)) if v.size > 1 and np.std(v) > 0 else 0.1
            v = v + rng.normal(0.0, 0.1 * scale, size=v.shape)
        out[k] = np.asarray(v, dtype=np.float32)
    return out


_NP = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i64": np.int64, "i32": np.int32,
       "i8": np.int8, "u8": np.uint8, "bool": np.bool_}
try:                                   # numpy's bfloat16 comes with onnx
    from ml_dtypes import bfloat16 as _bf16
    _NP["bf16"] = _bf16
except ImportError:                    # pragma: no cover
    pass


def concrete(shape, env: dict[str, int]) -> tuple[int, ...]:
    return tuple(Dim.of(d).evaluate(env) for d in shape)


def make_inputs(model, env: dict[str, int], seed: int = 0, high: int = 10,
                highs: dict[str, int] | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = []
    for p in model.inputs:
        shape = concrete(p.type.shape, env)
        if p.type.dtype.startswith("i") and p.type.rank == 1 and p.name not in (highs or {}):
            # sequence lengths: 1 .. the shortest time axis of the other inputs
            times = [env[str(d)] for q in model.inputs if q is not p for d in q.type.shape[1:2]
                     if not d.is_const()] or [high]
            xs.append(rng.integers(1, min(times) + 1, size=shape).astype(_NP[p.type.dtype]))
        elif p.type.dtype.startswith(("i", "u")):
            top = (highs or {}).get(p.name, high)
            xs.append(rng.integers(0, top, size=shape).astype(_NP[p.type.dtype]))
        elif p.type.dtype == "bool":
            xs.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            xs.append(rng.standard_normal(shape).astype(_NP[p.type.dtype]))
    return xs


def run_torch(model, weights, xs):
    import torch
    module = model.to_torch(weights=weights).eval()
    with torch.no_grad():
        out = module(*[torch.from_numpy(x) for x in xs])
    out = out if isinstance(out, tuple) else (out,)
    return [o.detach().numpy() for o in out]


def run_torch_src(model, weights, xs):
    """`--target torch-src`'s module, executed from its text, holding the interpreter's
    state_dict for `weights` (strict=True), in eval mode."""
    import torch
    space = {"__name__": "torch_src_under_test"}
    exec(compile(model.to_torch_src(), f"<torch-src of {model.name}>", "exec"), space)
    module = space[model.name]()
    module.load_state_dict(model.to_torch(weights=weights).state_dict(), strict=True)
    with torch.no_grad():
        out = module.eval()(*[torch.from_numpy(x) for x in xs])
    out = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in out]


def run_ort(model, weights, xs):
    import onnxruntime as ort
    proto = model.to_onnx(weights=weights)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {p.name: x for p, x in zip(model.inputs, xs)}), proto


def parity(model, env: dict[str, int], seed: int = 0, atol: float = 1e-4) -> float:
    """Run both backends with the same weights; check shapes against the IR; return max |diff|."""
    weights = random_weights(model, seed)
    xs = make_inputs(model, env, seed)
    t_out = run_torch(model, weights, xs)
    o_out, _ = run_ort(model, weights, xs)
    worst = 0.0
    for port, a, b in zip(model.outputs, t_out, o_out):
        want = concrete(port.type.shape, env)
        assert a.shape == want, f"torch {port.name}: {a.shape} != IR {want}"
        assert b.shape == want, f"onnxruntime {port.name}: {b.shape} != IR {want}"
        diff = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        assert diff <= atol, f"{port.name}: torch vs onnxruntime differ by {diff}"
        worst = max(worst, diff)
    return worst


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of `dslc ARGV...` run in this process (paths may be Paths)."""
    from dslc.cli import main
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
