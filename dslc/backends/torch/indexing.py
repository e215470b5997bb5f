"""torch modules for the contractions (ops/linalg.py) and the indexing ops (ops/indexing.py).
Imported only by those ops' `torch` methods, so the core never imports torch."""
from __future__ import annotations

import torch
from torch import nn
from ...ops.base import axis_index
from ...ops.indexing import CumSum as CumSumOp, Gather as GatherOp, IndexSelect as IndexSelectOp, OneHot as OneHotOp, Slice as SliceOp, TopK as TopKOp
from .table import lowering

TORCH_DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32,
                "f64": torch.float64, "i8": torch.int8, "i32": torch.int32, "i64": torch.int64,
                "u8": torch.uint8, "bool": torch.bool}


class MatMul(nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


class Einsum(nn.Module):
    def __init__(self, equation: str):
        super().__init__()
        self.equation = equation

    def forward(self, *xs):
        return torch.einsum(self.equation, *xs)


class Gather(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x, index):
        return torch.gather(x, self.axis, index.long())


class IndexSelect(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x, index):
        return torch.index_select(x, self.axis, index.long())


def _runtime(spec, in_types, xs, axis: int) -> int:
    """A bound from a plan entry of ops.indexing: ("const", v), ("rel", c) = the axis size of
    the first input + c, ("dims", Dim) evaluated on the inputs' run-time sizes."""
    kind, v = spec
    if kind == "const":
        return v
    if kind == "rel":
        return int(xs[0].shape[axis]) + v
    from .modules import dims_values
    return dims_values(in_types, xs, [v])[0]


class Slice(nn.Module):
    def __init__(self, axis: int, start, end, step: int, in_types):
        super().__init__()
        self.axis, self.start, self.end, self.step = axis, start, end, step
        self.in_types = in_types

    def forward(self, *xs):
        x = xs[0]
        lo = _runtime(self.start, self.in_types, xs, self.axis)
        hi = _runtime(self.end, self.in_types, xs, self.axis)
        index = (slice(None),) * self.axis + (slice(lo, hi, self.step),)
        return x[index]


class TopK(nn.Module):
    def __init__(self, k, axis: int, largest: bool, in_types):
        super().__init__()
        self.k, self.axis, self.largest, self.in_types = k, axis, largest, in_types

    def forward(self, *xs):
        x = xs[0]
        k = _runtime(self.k, self.in_types, xs, self.axis)
        # sorted=True always: an unsorted request may come back in any order, sorted is one.
        values, indices = torch.topk(x, k, dim=self.axis, largest=self.largest, sorted=True)
        return values, indices


class OneHot(nn.Module):
    def __init__(self, num_classes: int, dtype: str):
        super().__init__()
        self.num_classes, self.dtype = num_classes, TORCH_DTYPES[dtype]

    def forward(self, x):
        return nn.functional.one_hot(x.long(), self.num_classes).to(self.dtype)


class CumSum(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        # torch widens integer sums to i64 by default; the IR keeps the input's dtype.
        return torch.cumsum(x, self.axis, dtype=x.dtype)


# ---- lowerings ----


@lowering.register(GatherOp)
def _gather(op, node):
    return Gather(axis_index(op.axis, node.in_types[0].rank, "gather"))


@lowering.register(IndexSelectOp)
def _index_select(op, node):
    return IndexSelect(axis_index(op.axis, node.in_types[0].rank, "index_select"))


@lowering.register(SliceOp)
def _slice(op, node):
    ax, lo, hi = op.plan(node.in_types)
    return Slice(ax, lo, hi, op.step, node.in_types)


@lowering.register(TopKOp)
def _topk(op, node):
    ax, k = op.plan(node.in_types)
    return TopK(k, ax, op.largest, node.in_types)


@lowering.register(OneHotOp)
def _one_hot(op, node):
    return OneHot(op.num_classes, op.dtype)


@lowering.register(CumSumOp)
def _cumsum(op, node):
    return CumSum(axis_index(op.axis, node.in_types[0].rank, "cumsum"))
