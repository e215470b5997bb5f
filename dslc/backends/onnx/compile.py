"""Compile policy for ONNX (Model.to_onnx): which weights (given, drawn whole, drawn one at a time
for external data or a streamed file, none at all), and the size and memory checks that come
before any of them is drawn."""
from __future__ import annotations

from ...checks.memory import check_memory, check_onnx_size
from ...passes.weights import Drawn
from .builder import build_onnx


def compile_onnx(model, seed: int = 0, weights: dict | None = None, guards: bool = False,
                 max_memory: int | None = None, external=None, weightless: bool = False,
                 fuse: bool = False, stream=None):
    """Model.to_onnx's work, on a model already in its dtype (the arguments are to_onnx's)."""
    if weightless:
        if weights is not None or external is not None or stream is not None:
            raise ValueError("weightless graphs take no weights, external data or stream")
        return build_onnx(model, Drawn(model, seed), guards=guards, weightless=True, fuse=fuse)
    if external is not None or stream is not None:
        if external is None:
            check_onnx_size(model)      # one protobuf file: under 2 GiB
        if weights is None:
            check_memory(model, max_memory, streamed=True)
            weights = Drawn(model, seed)
        return build_onnx(model, weights, guards=guards, external=external, fuse=fuse,
                          stream=stream)
    check_onnx_size(model)          # before drawing weights one file could not hold
    return build_onnx(model, weights if weights is not None else model.weights(seed, max_memory),
                      guards=guards, fuse=fuse)
