"""torch modules for ops that torch.nn lacks in the exact form the IR means. Imported only by
op lowerings (inside their `torch` methods), so the core never imports torch."""
from __future__ import annotations

import torch
from torch import nn

from ..torch_src.runtime import flat_pads, same_pads
from .module import DslcModule


class Step(nn.Module):
    """Heaviside step: 1 where x >= 0, else 0."""

    def forward(self, x):
        return (x >= 0).to(x.dtype)


class Elementwise2(nn.Module):
    """fn(a, b) on two tensors, or on a tensor and a number (on the left when `reverse`)."""

    def __init__(self, fn, scalar=None, reverse: bool = False):
        super().__init__()
        self.fn, self.scalar, self.reverse = fn, scalar, reverse

    def forward(self, *xs):
        if self.scalar is None:
            return self.fn(*xs)
        return self.fn(self.scalar, xs[0]) if self.reverse else self.fn(xs[0], self.scalar)


class WhereModule(nn.Module):
    def __init__(self, other=None):
        super().__init__()
        self.other = other

    def forward(self, cond, a, b=None):
        return torch.where(cond, a, b if b is not None else self.other)


class Concat(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)


class Split(nn.Module):
    def __init__(self, parts: int, axis: int):
        super().__init__()
        self.parts, self.axis = parts, axis

    def forward(self, x):
        return tuple(torch.chunk(x, self.parts, dim=self.axis))


class ConvNd(nn.Module):
    """A convolution whose padding may be asymmetric, non-zero or decided at run time; its own
    parameters are `weight` and `bias`, as the IR names them."""

    def __init__(self, n, cin, cout, ks, ss, ds, groups, bias, pads, padding_mode):
        super().__init__()
        self.n, self.ks, self.ss, self.ds, self.groups = n, ks, ss, ds, groups
        self.pads, self.mode = pads, {"zeros": "constant"}.get(padding_mode, padding_mode)
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, *ks))
        self.bias = nn.Parameter(torch.empty(cout)) if bias else None
        self.conv = getattr(torch.nn.functional, f"conv{n}d")

    def forward(self, x):
        if None in self.pads:       # `same` at a stride > 1 on a symbolic size
            pads = same_pads(x, list(self.ks), list(self.ss), list(self.ds))
            x, padding = torch.nn.functional.pad(x, pads, mode=self.mode), 0
        elif self.mode == "constant" and all(b == e for b, e in self.pads):
            padding = tuple(b for b, _ in self.pads)
        else:
            x = torch.nn.functional.pad(x, flat_pads(self.pads), mode=self.mode)
            padding = 0
        return self.conv(x, self.weight, self.bias, self.ss, padding, self.ds, self.groups)


class GlobalPool(nn.Module):
    """Mean or max over every spatial axis, dims kept: [N, C, *S] -> [N, C, 1, ...]."""

    def __init__(self, reduce: str):
        super().__init__()
        self.reduce = reduce

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        return x.mean(dim=dims, keepdim=True) if self.reduce == "mean" else x.amax(dim=dims, keepdim=True)


class Reshape(nn.Module):
    """Reshape by a plan of ints, -1, ("copy", j) (the input's dim j at run time) and
    ("dims", d), computed from the sizes of the node's inputs (`in_types`; the inputs after x
    only carry sizes: dims_values)."""

    def __init__(self, plan, in_types=()):
        super().__init__()
        self.plan, self.in_types = plan, tuple(in_types)
        self.computed = [p[1] for p in plan if isinstance(p, tuple) and p[0] == "dims"]

    def forward(self, x, *carriers):
        values = iter(dims_values(self.in_types, (x, *carriers), self.computed)
                      if self.computed else ())
        return x.reshape([p if not isinstance(p, tuple) else
                          x.shape[p[1]] if p[0] == "copy" else next(values) for p in self.plan])


class Permute(nn.Module):
    def __init__(self, perm):
        super().__init__()
        self.perm = perm

    def forward(self, x):
        return x.permute(*self.perm)


class PadModule(nn.Module):
    def __init__(self, pads, mode: str, value: float):
        super().__init__()
        self.pads, self.mode, self.value = flat_pads(pads), mode, value

    def forward(self, x):
        if self.mode == "constant":
            return torch.nn.functional.pad(x, self.pads, mode="constant", value=self.value)
        return torch.nn.functional.pad(x, self.pads, mode=self.mode)


class ScanModule(DslcModule):
    """scan: the body (one time step) applied along axis 1; its parameters sit directly under
    the scan node, shared by every step."""

    def __init__(self, op, node):
        super().__init__(op.body, strip=node.name + ".")
        self.reverse, self.return_state = op.reverse, op.state
        self.state_shapes = [[d.value if d.is_const() else None for d in p.type.shape]
                             for p in op.body.inputs[1:]]

    def forward(self, x, *initial):
        states = list(initial) or [x.new_zeros([x.shape[0] if d is None else d for d in s])
                                   for s in self.state_shapes]
        steps = range(x.shape[1])
        ys = [None] * x.shape[1]
        for t in (reversed(steps) if self.reverse else steps):
            out = DslcModule.forward(self, x[:, t], *states)
            out = out if isinstance(out, tuple) else (out,)
            ys[t], states = out[0], list(out[1:])
        y = torch.stack(ys, dim=1)
        return (y, *states) if self.return_state else y


def dims_values(in_types, xs, dims) -> list[int]:
    """`dims` (possibly symbolic) as Python ints, from the run-time sizes of the node's inputs:
    each symbol read from the input dim that is that symbol (ops.base.symbol_sources; the
    elaborator has appended an input for each), the expression folded by Dim.fold."""
    import operator

    from ...ops.base import symbol_sources
    src = symbol_sources(in_types)

    def leaf(sym: str) -> int:
        k, axis = src[sym]
        return int(xs[k].shape[axis])
    return [d.fold(leaf, int, operator.add, operator.mul, operator.floordiv) for d in dims]
