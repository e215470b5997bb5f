"""Running ONNX graphs on onnxruntime: provider choice, inputs, timing."""
from __future__ import annotations

import statistics
import time

import numpy as np

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
NUMPY_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
                "tensor(bool)": np.bool_, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


class RunError(Exception):
    """A usage problem (no such provider, a dim without a value): one clear line."""


def session(model, provider: str = "cpu"):
    """An onnxruntime InferenceSession on the chosen provider ("cpu" or "cuda"). `model` is
    serialized bytes, an onnx.ModelProto, or a path. RunError if the provider is absent (or
    onnxruntime could not start it and fell back to the CPU)."""
    import onnxruntime as ort
    want = PROVIDERS.get(provider)
    if want is None:
        raise RunError(f"unknown provider `{provider}` (choose {', '.join(PROVIDERS)})")
    available = ort.get_available_providers()
    if want not in available:
        raise RunError(f"the {provider.upper()} execution provider is not available in this "
                       f"onnxruntime (available: {', '.join(available)})"
                       + ("; install onnxruntime-gpu on a machine with CUDA" if provider == "cuda" else ""))
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, (bytes, bytearray)):
        model = str(model)
    providers = [want] + (["CPUExecutionProvider"] if want != "CPUExecutionProvider" else [])
    sess = ort.InferenceSession(model, providers=providers)
    if want not in sess.get_providers():
        raise RunError(f"onnxruntime could not start the {provider.upper()} execution provider "
                       "(its libraries failed to load; see onnxruntime's warning above)")
    return sess


def batch_symbols(sess) -> set[str]:
    """The symbols that stand for the batch: the first dim of each input, when named."""
    return {i.shape[0] for i in sess.get_inputs() if i.shape and isinstance(i.shape[0], str)}


def concrete_shapes(sess, dims: dict[str, int], skip=()) -> dict[str, tuple[int, ...]]:
    """Each input's shape with symbolic dims filled: from `dims`, else 1 for the batch symbols
    (and an unnamed leading dim); any other unknown dim is an error naming it. Inputs in `skip`
    are given by the user."""
    env = {**{b: 1 for b in batch_symbols(sess)}, **dims}
    out, missing = {}, []
    for inp in sess.get_inputs():
        if inp.name in skip:
            continue
        shape = []
        for i, d in enumerate(inp.shape):
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in env:
                shape.append(env[d])
            elif isinstance(d, str) and d:
                missing.append(d)
                shape.append(1)
            elif i == 0:
                shape.append(1)
            else:
                raise RunError(f"input `{inp.name}` has an unnamed dynamic dim at axis {i}:"
                               " give its values with --input")
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
        dtype = NUMPY_DTYPES.get(types[name], np.float32)
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


def run(model, feeds: dict | None = None, *, provider: str = "cpu", dims: dict | None = None,
        seed: int = 0, repeat: int = 1) -> tuple[dict[str, np.ndarray], float]:
    """Run an ONNX model (bytes, ModelProto, path) once: random inputs for those not in `feeds`
    (symbolic dims from `dims`, batch symbols 1). Returns ({output name: array}, median ms)."""
    sess = session(model, provider)
    feeds = dict(feeds or {})
    feeds = {**random_inputs(sess, dims or {}, seed, skip=feeds), **feeds}
    outputs, ms = timed_run(sess, feeds, repeat)
    return {o.name: y for o, y in zip(sess.get_outputs(), outputs)}, ms
