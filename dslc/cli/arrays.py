"""Arrays from files: `--input` (.npy) and `--weights` (.npz, or a torch state_dict). Never
unpickled; an array's header is read first and its size checked against the memory available
and against the bytes the file holds, so a header claiming 4e11 floats is one line, not an
allocation; weights must be dense, on a device, and finite unless --allow-nonfinite."""
from __future__ import annotations

import io
import pickle
import zipfile
import zlib

from .common import Usage, need, read_bytes

_BROKEN = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def read_array(path: str):
    """An --input array: a .npy file as np.save writes it."""
    data = read_bytes(path)
    if not data.startswith(b"\x93NUMPY"):
        raise Usage(f"cannot read '{path}': not a .npy file (np.save writes one)")
    try:
        return _npy(lambda: io.BytesIO(data), len(data))
    except _BROKEN as e:
        raise Usage(f"cannot read '{path}' as a .npy array: {_line(e)}")


def _npy(open_, size: int):
    """The array of a .npy stream (`open_()` opens it afresh) of `size` bytes: its header
    checked first (ValueError: object arrays, sizes over the memory or the file)."""
    import numpy as np
    from ..checks.memory import available_memory, fmt_bytes
    fmt = np.lib.format
    with open_() as f:
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
        head = f.tell()
    if dtype.hasobject:
        raise ValueError("an array of Python objects (allow_pickle=False)")
    need_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    free = available_memory()[0]
    if need_bytes > free:
        raise ValueError(f"its header declares {list(shape)} {dtype} ({fmt_bytes(need_bytes)}), "
                         f"over the {fmt_bytes(free)} available")
    if need_bytes > size - head:
        raise ValueError(f"truncated: its header declares {list(shape)} {dtype}, "
                         f"{need_bytes:,} bytes, and {size - head:,} follow it")
    with open_() as f:
        return fmt.read_array(f, allow_pickle=False)


def read_weights(path: str, allow_nonfinite: bool = False) -> dict:
    """--weights FILE: an .npz (np.savez(path, **weights)) or a torch state_dict (.pt/.pth,
    read with weights_only=True), by dotted name; NaN or inf refused unless allowed."""
    data = read_bytes(path)
    if data.startswith(b"PK") and not path.endswith((".pt", ".pth")):
        weights = _npz(data, path)
    elif path.endswith((".pt", ".pth")):
        weights = _state_dict(data, path)
    else:
        raise Usage(f"cannot read '{path}': --weights takes an .npz (np.savez) or a torch "
                    "state_dict (.pt, .pth)")
    bad = [] if allow_nonfinite else [k for k, v in weights.items() if not _finite(v)]
    if bad:
        raise Usage(f"cannot use '{path}': NaN or inf in {', '.join(bad[:5])}"
                    + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                    + " (--allow-nonfinite takes them as they are)")
    return weights


def _npz(data: bytes, path: str) -> dict:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {info.filename.removesuffix(".npy"):
                    _npy(lambda info=info: z.open(info), info.file_size) for info in z.infolist()}
    except _BROKEN as e:
        raise Usage(f"cannot read '{path}' as an .npz of arrays: {_line(e)}")


def _state_dict(data: bytes, path: str) -> dict:
    torch = need("torch", "torch")
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise Usage(f"cannot read '{path}': not a weights-only state_dict (it holds objects "
                    "torch.load(weights_only=True) refuses to unpickle)")
    except Exception as e:
        raise Usage(f"cannot read '{path}' as a torch state_dict: {_line(e)}")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise Usage(f"cannot read '{path}': a state_dict (a dict of tensors by name) was "
                    f"expected, found a {type(state).__name__}")
    for k, v in state.items():
        problem = _unusable(torch, v)
        if problem:
            raise Usage(f"cannot use '{path}': `{k}` is {problem}")
    return {k: v.contiguous() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def _unusable(torch, v) -> str | None:
    """What a tensor is that dslc cannot build with, and the way out; None for a dense one."""
    if not isinstance(v, torch.Tensor):
        return None
    if v.layout != torch.strided:
        return f"a sparse tensor ({v.layout}); save `.to_dense()`"
    if v.is_meta:
        return "a meta tensor, which holds no values; save the tensor with its values"
    return "a quantized tensor; save `.dequantize()`" if v.is_quantized else None


def _finite(v) -> bool:
    """False for a floating tensor or array holding NaN or inf."""
    if hasattr(v, "is_floating_point"):                   # torch
        import torch
        return not v.is_floating_point() or bool(torch.isfinite(v).all())
    import numpy as np
    a = np.asarray(v)
    return a.dtype.kind not in "fV" or bool(np.isfinite(a.astype(np.float32)).all())


def _line(e: Exception) -> str:
    """A library's error in one line of at most 200 characters."""
    return " ".join(str(e).split())[:200] or type(e).__name__
