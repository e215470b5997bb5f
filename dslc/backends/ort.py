"""Running ONNX graphs on onnxruntime: provider choice, inputs, timing."""
from __future__ import annotations

import statistics
import time

import numpy as np

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
_NP = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
       "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
       "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


class RunError(Exception):
    """A usage problem (no such provider, a dim without a value): one clear line."""


def session(model_bytes: bytes, provider: str = "cpu"):
    import onnxruntime as ort
    want = PROVIDERS.get(provider)
    if want is None:
        raise RunError(f"unknown provider `{provider}` (choose {', '.join(PROVIDERS)})")
    available = ort.get_available_providers()
    if want not in available:
        raise RunError(f"the {provider.upper()} execution provider is not available in this "
                       f"onnxruntime (available: {', '.join(available)})"
                       + ("; install onnxruntime-gpu on a machine with CUDA" if provider == "cuda" else ""))
    providers = [want] + (["CPUExecutionProvider"] if want != "CPUExecutionProvider" else [])
    return ort.InferenceSession(model_bytes, providers=providers)


def concrete_shapes(sess, dims: dict[str, int], skip=()) -> dict[str, tuple[int, ...]]:
    """Each input's shape with symbolic dims filled: from `dims`, else 1 for a leading (batch)
    dim; any other unknown dim is an error naming it. Inputs in `skip` are given by the user."""
    out, missing = {}, []
    for inp in sess.get_inputs():
        if inp.name in skip:
            continue
        shape = []
        for i, d in enumerate(inp.shape):
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in dims:
                shape.append(dims[d])
            elif i == 0:
                shape.append(1)
            else:
                missing.append(str(d))
                shape.append(1)
        out[inp.name] = tuple(shape)
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise RunError(f"give sizes for the symbolic dims {names}, e.g. --dim {missing[0]}=32")
    return out


def random_inputs(sess, dims: dict[str, int], seed: int = 0, skip=()) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    types = {i.name: i.type for i in sess.get_inputs()}
    for name, shape in concrete_shapes(sess, dims, skip).items():
        dtype = _NP.get(types[name], np.float32)
        if np.issubdtype(dtype, np.integer):
            feeds[name] = rng.integers(0, 2, size=shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def timed_run(sess, feeds: dict, repeat: int = 10):
    """(outputs, median latency in ms) after one warm-up run."""
    outputs = sess.run(None, feeds)
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1000)
    return outputs, statistics.median(times)
