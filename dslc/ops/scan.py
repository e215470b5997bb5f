"""scan: a cell block applied along the time axis with carried state (the general recurrence).

`ys = x -> scan(Cell(args))` or `ys, s = x -> scan(Cell, initial=s0, state=true)`: the cell's
first port takes one step [N, *F] of x [N, T, *F], its other ports the carried states; it
returns (y_t, *new_states), the states with unchanged types. States start from `initial`, or
from zeros shaped by the cell's port patterns. Lowered to an ONNX Scan (scan axis 1) and a torch
loop; the cell's parameters are shared by every step."""
from __future__ import annotations

from typing import Any, ClassVar

from ..ir.dims import Dim
from .base import Op, ShapeError, need_rank


class Scan(Op):
    """scan(cell): [N, T, *F] -> [N, T, *Y] (y_t stacked along time); with state=true also the
    final states. The shape rule reads the elaborated cell (`body`)."""
    kind: ClassVar[str] = "scan"
    regions: ClassVar[tuple[str, ...]] = ("body",)
    arity: ClassVar[tuple[int, int | None]] = (1, None)
    positional: ClassVar[tuple[str, ...]] = ("cell",)
    tensor_args: ClassVar[tuple[str, ...]] = ("initial",)
    body: Any                 # an ir.Model: inputs (x_t, *states), outputs (y_t, *states)
    reverse: bool = False
    state: bool = False
    initial: int = 0

    @property
    def n_states(self) -> int:
        return len(self.body.inputs) - 1

    def shape(self, x, *initial):
        need_rank(x, range(3, 9), "scan", "[N, T, ...]")
        y = self.body.outputs[0].type
        first = y.with_shape((x.shape[0], x.shape[1], *y.shape[1:]))
        states = tuple(p.type for p in self.body.outputs[1:]) if self.state else ()
        return (first, *states)

    def _local(self, full: str) -> str:
        """A body parameter's full name (`Outer_1.scan_1.Cell_1.dense_1.weight`) relative to
        the scan node (`Cell_1.dense_1.weight`): the body sits under the scan node's whole
        dotted name, which its step input carries (`Outer_1.scan_1.step`)."""
        prefix = self.body.inputs[0].value.rsplit(".", 1)[0] + "."
        return full[len(prefix):] if full.startswith(prefix) else full.split(".", 1)[1]

    def params(self, *xs):
        out = {}
        for n in self.body.nodes:
            out.update(n.param_shapes())
        return {self._local(k): v for k, v in out.items()}

    def buffers(self, *xs):
        out = {}
        for n in self.body.nodes:
            out.update(n.buffer_shapes())
        return {self._local(k): v for k, v in out.items()}

    def macs(self, xs, ys):
        """T * (the MACs of one step of the cell)."""
        per_step = Dim.of(0)
        for n in self.body.nodes:
            per_step = per_step + n.macs()
        return per_step * xs[0].shape[1]

    def describe(self, inputs: tuple[str, ...] = ()) -> str:
        return f"scan({self.body.name})"


def state_dims_ok(t, batch: Dim) -> bool:
    """Zero initial states are built at run time: each dim must be known or the batch dim."""
    return all(d.is_const() or d == batch for d in t.shape)


def check_zero_states(types, batch: Dim) -> None:
    for t in types:
        if not state_dims_ok(t, batch):
            raise ShapeError("E304", f"scan: a zero initial state needs known sizes, got {t}",
                             help="pass `initial=` tensors instead")


OPS = (Scan,)
