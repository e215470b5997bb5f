"""The onnx lowerings of the shaping ops (dslc/ops/shaping.py)."""
from __future__ import annotations

from ...ir.dims import Dim
from ...ops.base import axis_index
from ...ops.shaping import Expand, RepeatInterleave, Squeeze, Stack, Tile, Unsqueeze, _new_axis
from .table import lowering


@lowering.register(Expand)
def _expand(op, b, node, ins, outs):
    # ONNX Expand broadcasts both ways: a 1 in the shape keeps the input's size.
    dims = [Dim.of(1) if d is None else d for d in op.targets(node.in_types, node.out_types)]
    if all(d.is_const() for d in dims):
        shape = b.ints([d.value for d in dims], f"{node.name}.shape")
    else:
        from .lowering import dims_tensor
        shape = dims_tensor(b, node, ins, dims)
    b.node("Expand", [ins[0], shape], outs[:1], name=node.name)


@lowering.register(Unsqueeze)
def _unsqueeze(op, b, node, ins, outs):
    a = _new_axis(op.axis, node.in_types[0].rank, "unsqueeze")
    b.node("Unsqueeze", [ins[0], b.ints([a], f"{node.name}.axes")], outs, name=node.name)


@lowering.register(Squeeze)
def _squeeze(op, b, node, ins, outs):
    axes = op.axes(node.in_types[0])
    if not axes:
        b.node("Identity", [ins[0]], outs, name=node.name)
        return
    b.node("Squeeze", [ins[0], b.ints(axes, f"{node.name}.axes")], outs, name=node.name)


@lowering.register(RepeatInterleave)
def _repeat_interleave(op, b, node, ins, outs):
    # No ONNX op: insert an axis after `axis`, expand it to `repeats`, merge the two.
    t = node.in_types[0]
    src, shape = ins[0], t.shape
    if op.axis is None:
        src = b.node("Reshape", [src, b.ints([-1], f"{node.name}.flat")],
                     name=f"{node.name}.flatten")[0]
        total = Dim.of(1)
        for d in t.shape:
            total = total * d
        a, shape = 0, (total,)
    else:
        a = axis_index(op.axis, t.rank, "repeat_interleave")
    r = len(shape)
    u = b.node("Unsqueeze", [src, b.ints([a + 1], f"{node.name}.axes")],
               name=f"{node.name}.unsqueeze")[0]
    e = b.node("Expand", [u, b.ints([1] * (a + 1) + [op.repeats] + [1] * (r - a - 1),
                                    f"{node.name}.repeats")], name=f"{node.name}.expand")[0]
    # Reshape: 0 copies the leading dims, -1 merges axis a with its copies, and the trailing
    # dims are numbers or read from the input at run time.
    head = [0] * a + [-1]
    tail = shape[a + 1:]
    if all(d.is_const() for d in tail):
        target = b.ints(head + [d.value for d in tail], f"{node.name}.shape")
    else:
        rest = b.node("Shape", [src], name=f"{node.name}.tail", start=a + 1)[0]
        target = b.node("Concat", [b.ints(head, f"{node.name}.head"), rest],
                        name=f"{node.name}.shape", axis=0)[0]
    b.node("Reshape", [e, target], outs, name=node.name)


@lowering.register(Tile)
def _tile(op, b, node, ins, outs):
    rank = node.in_types[0].rank
    reps = op.full_reps(rank)
    x = ins[0]
    if len(reps) > rank:       # ONNX Tile needs one repetition per input axis
        x = b.node("Unsqueeze", [x, b.ints(list(range(len(reps) - rank)), f"{node.name}.axes")],
                   name=f"{node.name}.unsqueeze")[0]
    b.node("Tile", [x, b.ints(list(reps), f"{node.name}.reps")], outs, name=node.name)


@lowering.register(Stack)
def _stack(op, b, node, ins, outs):
    a = _new_axis(op.axis, node.in_types[0].rank, "stack")
    axes = b.ints([a], f"{node.name}.axes")
    if len(ins) == 1:
        b.node("Unsqueeze", [ins[0], axes], outs, name=node.name)
        return
    parts = [b.node("Unsqueeze", [x, axes], name=f"{node.name}.unsqueeze")[0] for x in ins]
    b.node("Concat", parts, outs, name=node.name, axis=a)
