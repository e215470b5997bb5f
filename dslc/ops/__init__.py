"""The op registry. `INDEX` is the index of ops (kind -> family module); a family is imported
on first use, so `dslc check` pays only for the ops a spec uses. Adding an op = write its class
in a family's `OPS`, list its kind here, add a row to tests/test_ops_table.py (which also
checks this index against the classes)."""
from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .base import Op, ShapeError, Unsupported

_FAMILIES: dict[str, tuple[str, ...]] = {
    "linear": ("dense",),
    "activation": ("relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "gelu", "sigmoid",
                   "silu", "quick_gelu", "tanh", "hardtanh", "softplus", "step", "softmax", "log_softmax",
                   "maxout"),
    "arith": ("add", "sub", "mul", "div", "pow", "neg", "eq", "ne", "lt", "le", "gt", "ge",
              "logical_and", "logical_or", "logical_not", "where"),
    "elementwise": ("exp", "log", "log1p", "sqrt", "rsqrt", "abs", "square", "clamp", "sin",
                    "cos", "erf", "sign", "floor", "round", "reciprocal", "softsign",
                    "logsigmoid", "mish", "hardswish", "hardsigmoid", "cast"),
    "reduce": ("sum", "mean", "max", "min", "prod", "var", "std", "logsumexp", "argmax",
               "argmin", "norm"),
    "linalg": ("matmul", "einsum"),
    "indexing": ("gather", "index_select", "slice", "topk", "one_hot", "cumsum"),
    "shaping": ("expand", "unsqueeze", "squeeze", "repeat_interleave", "tile", "stack"),
    "sources": ("param", "randn_like", "rand_like", "bernoulli"),
    "augment": ("phase_shuffle",),
    "combine": ("concat", "split"),
    "convolution": ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                    "conv_transpose3d"),
    "pooling": ("maxpool", "maxpool1d", "maxpool2d", "maxpool3d", "avgpool", "avgpool1d",
                "avgpool2d", "avgpool3d", "adaptive_avgpool", "adaptive_avgpool1d",
                "adaptive_avgpool2d", "adaptive_avgpool3d", "adaptive_maxpool",
                "adaptive_maxpool1d", "adaptive_maxpool2d", "adaptive_maxpool3d",
                "global_avgpool", "global_maxpool"),
    "layout": ("flatten", "reshape", "permute", "transpose"),
    "normalization": ("batchnorm", "batchnorm1d", "batchnorm2d", "batchnorm3d", "layernorm",
                      "groupnorm", "instancenorm", "dropout", "drop_path"),
    "resample": ("upsample", "pad", "channel_shuffle"),
    "recurrent": ("embedding", "rnn", "gru", "lstm"),
    "scan": ("scan",),
    "attention": ("attention", "sdpa", "class_token", "select", "rmsnorm"),
    "positions": ("arange", "positions", "positional", "relative_bias", "window_bias", "roll",
                  "window_partition", "window_merge"),
}
INDEX: dict[str, str] = {kind: family for family, kinds in _FAMILIES.items() for kind in kinds}


def family_names() -> tuple[str, ...]:
    """The op families, as their modules are named (dslc/ops/<family>.py)."""
    return tuple(_FAMILIES)


def family_ops(family: str) -> tuple[type[Op], ...]:
    return importlib.import_module(f"{__name__}.{family}").OPS


class _Registry(Mapping):
    """kind -> op class, importing the op's family on first lookup (then kept: the elaborator
    looks an op up once per layer)."""

    def __init__(self):
        self._found: dict[str, type[Op]] = {}

    def __getitem__(self, kind: str) -> type[Op]:
        found = self._found.get(kind)
        if found is not None:
            return found
        for op in family_ops(INDEX[kind]):
            if op.kind == kind:
                self._found[kind] = op
                return op
        raise KeyError(kind)

    def __contains__(self, kind) -> bool:
        return kind in INDEX

    def __iter__(self) -> Iterator[str]:
        return iter(INDEX)

    def __len__(self) -> int:
        return len(INDEX)


OPS: Mapping[str, type[Op]] = _Registry()


def all_ops() -> tuple[type[Op], ...]:
    """Every op class (imports every family), in index order."""
    return tuple(OPS[kind] for kind in INDEX)


def __getattr__(name: str):
    if name == "ALL_OPS":
        return all_ops()
    raise AttributeError(name)


__all__ = ["ALL_OPS", "INDEX", "OPS", "Op", "ShapeError", "Unsupported", "all_ops"]
