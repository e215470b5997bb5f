"""Compile-time guards on the weights' size, checked before any weight is allocated.

`dslc check` accepts a model of any size (counts are exact integers, nothing is allocated);
building one is refused when
- one tensor has more than MAX_TENSOR_ELEMENTS elements (2**40: past what numpy, torch and
  ONNX can index or store on any machine), or
- the memory the build holds at its peak exceeds the limit: by default the memory available
  to this process (Linux: MemAvailable, bounded by the cgroup's memory.max; elsewhere the free
  physical pages; else DEFAULT_LIMIT), else the limit given (`dslc compile --max-memory`).
The peak, stated: every weight drawn in float32 (4 bytes an element), one float64 draw of the
largest tensor (numpy's generators draw in float64 before the cast), and `copies` copies of
every weight at its node's param_dtype (the torch module holds 1; an ONNX build 2: the graph
and its serialization). A streamed build (ONNX external data) holds only the largest tensor's
draw and array. An ONNX file also holds at most ONNX_LIMIT bytes (protobuf's 2 GiB).
"""
from __future__ import annotations

import os
import re
from decimal import Decimal
from math import prod
from ..ir.dims import Dim

MAX_TENSOR_ELEMENTS = 2 ** 40
DEFAULT_LIMIT = 64 * 2 ** 30
ONNX_LIMIT = 2 ** 31 - 1
_ITEMSIZE = {"f16": 2, "bf16": 2, "f32": 4, "f64": 8}
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


class TooLarge(ValueError):
    """A model whose weights cannot be built within a limit; the message names the sizes and
    the largest tensors."""


def fmt_bytes(n: int) -> str:
    """`3.47 EiB`: binary units, three significant digits."""
    i = 0
    while n >= 1024 ** (i + 1) and i + 1 < len(_UNITS):
        i += 1
    return f"{n:,} B" if i == 0 else f"{Decimal(n) / 1024 ** i:.3g} {_UNITS[i]}"  # no float overflow


def parse_size(text: str) -> int:
    """Bytes from `64G`, `64GiB`, `64GB`, `512M`, `1.5T`, `1000000`: K, M, G, T, P and E are
    powers of 1024, with or without `i` and `B`. ValueError for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(?:i?B)?|B)?\s*", text, re.IGNORECASE)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"a size is a positive number with an optional unit (512M, 64G, 1.5T), "
                         f"got '{text}'")
    power = "KMGTPE".index(m.group(2).upper()) + 1 if m.group(2) else 0
    return int(float(m.group(1)) * 1024 ** power)


def available_memory() -> tuple[int, str]:
    """(bytes, how they were found): the default limit."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        free = int(info["MemAvailable"].split()[0]) * 1024
        try:
            with open("/sys/fs/cgroup/memory.max") as f, \
                    open("/sys/fs/cgroup/memory.current") as g:
                cap, used = f.read().strip(), int(g.read())
            if cap.isdigit():
                free = min(free, int(cap) - used)
        except (OSError, ValueError):
            pass
        return free, "the memory available on this machine"
    except (OSError, KeyError, ValueError):
        pass
    try:
        return (os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                "the free memory of this machine")
    except (AttributeError, ValueError, OSError):
        return DEFAULT_LIMIT, "dslc's default limit"


def weight_tensors(model) -> list[tuple[str, tuple[int, ...], str, object]]:
    """(full name, shape, param_dtype, node) of each parameter and buffer, once (tied
    parameters are their owner's)."""
    from ..passes.weights import leaf_nodes
    out, seen = [], set()
    for node in leaf_nodes(model):
        for local, shape in {**node.op.params(*node.in_types),
                             **node.op.buffers(*node.in_types)}.items():
            name = node.pname(local)
            if name not in seen:
                seen.add(name)
                out.append((name, tuple(shape), node.param_dtype, node))
    return out


def _largest(tensors, k: int = 3) -> str:
    top = sorted(tensors, key=lambda t: -prod(t[1]) * _ITEMSIZE[t[2]])[:k]
    return ", ".join(f"{name} {list(shape)} {fmt_bytes(prod(shape) * _ITEMSIZE[dt])} ({node.span})"
                     for name, shape, dt, node in top)


def _beyond_int64(value) -> int | None:
    """An integer (in a hyperparameter, its tuples, records or constant sizes) outside int64."""
    if isinstance(value, (tuple, list)):
        return next((v for v in map(_beyond_int64, value) if v is not None), None)
    if isinstance(value, dict):
        return _beyond_int64(tuple(value.values()))
    if isinstance(value, Dim):
        value = value.value if value.is_const() else None
    if isinstance(value, int) and not isinstance(value, bool) and not -2 ** 63 <= value < 2 ** 63:
        return value
    return None


def check_representable(model, what: str = "") -> list:
    """weight_tensors(model); TooLarge when one is over MAX_TENSOR_ELEMENTS or a layer's known
    output size is over int64 (what torch and ONNX hold)."""
    for node in model.nodes:
        big = _beyond_int64(tuple(d for t in node.out_types for d in t.shape))
        if big is not None:
            raise TooLarge(f"model {model.name} cannot be built{what}: `{node.name}` has a size of "
                           f"{big:,}, over int64 ({node.span})")
        for field in type(node.op).model_fields:
            value = _beyond_int64(getattr(node.op, field))
            if value is not None:
                raise TooLarge(f"model {model.name} cannot be built{what}: `{node.name}` has "
                               f"{field} {value:,}, beyond int64, which ONNX attributes and torch "
                               f"hold ({node.span})")
    tensors = weight_tensors(model)
    for name, shape, dt, node in tensors:
        if prod(shape) > MAX_TENSOR_ELEMENTS:
            raise TooLarge(f"model {model.name} cannot be built{what}: {name} {list(shape)} has "
                           f"{prod(shape):,} elements ({fmt_bytes(prod(shape) * _ITEMSIZE[dt])} "
                           f"in {dt}), over the 2**40 ({MAX_TENSOR_ELEMENTS:,}) one tensor may "
                           f"have ({node.span})")
    return tensors


def check_memory(model, limit: int | None = None, copies: int = 0, what: str = "",
                 streamed: bool = False) -> None:
    """TooLarge when a tensor is over MAX_TENSOR_ELEMENTS or the peak (see the module) is
    over `limit` (None: the available memory). `what`: the build, for the message."""
    tensors = check_representable(model, what)
    if not tensors:
        return
    how = "the limit given (--max-memory)"
    if limit is None:
        limit, how = available_memory()
        how += "; --max-memory SIZE sets another limit"
    count = sum(prod(s) for _, s, _, _ in tensors)
    largest = max(prod(s) for _, s, _, _ in tensors)
    if streamed:        # drawn and written one at a time (external data): the largest's
        peak = (8 + 4) * largest        # float64 draw and float32 array
    else:
        peak = 4 * count + 8 * largest \
            + copies * sum(prod(s) * _ITEMSIZE[dt] for _, s, dt, _ in tensors)
    if peak > limit:
        raise TooLarge(f"model {model.name} needs about {fmt_bytes(peak)} to build{what} "
                       f"({count:,} weights), over {fmt_bytes(limit)} ({how}); the largest: "
                       f"{_largest(tensors)}")


def check_onnx_size(model) -> None:
    """TooLarge when the weights at their param_dtype exceed what one ONNX file can hold."""
    tensors = weight_tensors(model)
    size = sum(prod(s) * _ITEMSIZE[dt] for _, s, dt, _ in tensors)
    if size > ONNX_LIMIT:
        raise TooLarge(f"model {model.name}'s weights take {fmt_bytes(size)}, over the 2 GiB one "
                       f"ONNX file can hold (protobuf's limit); the largest: {_largest(tensors)}")
