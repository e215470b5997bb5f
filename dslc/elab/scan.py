"""Elaboration of `scan`: the cell block is elaborated once, as a body graph, on one time step."""
from __future__ import annotations

from ..syntax import ast
from ..diagnostics import did_you_mean
from ..ir.dims import fmt_shape
from .elaborator import GraphState, Scope
from .values import Fail
from ..ir.core import Model, Port, TensorType
from ..ops.scan import check_zero_states
from ..ops.base import ShapeError
from .values import POISON, LayerVal, TensorVal, kind_of


def apply_scan(el, layer: LayerVal, inputs: list, span):
    cls = layer.target
    args = list(layer.args)
    kwargs = {k: (v, s) for k, v, s in layer.kwargs}
    cell = args.pop(0)[0] if args else kwargs.pop("cell", (None,))[0]
    if not isinstance(cell, LayerVal) or not isinstance(cell.target, ast.BlockDef):
        raise el.error("E205", f"scan takes a cell block, got {kind_of(cell) if cell else 'nothing'}",
                       span, help="e.g. `x -> scan(MyCell(32))` with `block MyCell(x: [N, F], h: [N, 32])`")
    if args:
        raise el.error("E207", "scan takes one positional argument, the cell", args[0][1])
    x, initial = inputs[0], inputs[1:]
    if x.type.rank < 3:
        raise el.error("E301", f"scan runs along axis 1 of a [N, T, ...] input, got "
                       f"{fmt_shape(x.type.shape)}", span, notes=[(x.origin, "the input comes from here")])
    step = TensorType(dtype=x.type.dtype, shape=(x.type.shape[0], *x.type.shape[2:]))
    ports = cell.target.ports
    if len(ports) < 1:
        raise el.error("E208", f"the cell {cell.name} needs a port for the time step", span)
    states = [t.type for t in initial] if initial else _zero_state_types(el, cell, step, span)
    if len(states) != len(ports) - 1:
        raise el.error("E208", f"the cell {cell.name} carries {len(ports) - 1} state(s), "
                       f"`initial` gives {len(states)}", span)
    name = el._node_name("scan", kwargs.get("name", (None,))[0], span)
    # `scan(Cell, frozen=true)`, or a scan inside a frozen block call: every layer of the cell
    # is frozen (the body's nodes, and the scan node that owns their parameters)
    frozen = el._frozen(kwargs, span) or el.scope.frozen
    body = _elaborate_body(el, cell, name, step, states, span, frozen)
    hyper = {k: v for k, (v, _) in kwargs.items() if k not in ("name", "initial", "init", "frozen")}
    try:
        op = cls(body=body, initial=len(initial), **hyper)
        outs = op.infer(*[v.type for v in inputs])
    except ShapeError as err:
        raise el.error(err.code, err.message, span, expected=err.expected, got=err.got, help=err.help,
                       requires=err.requires)
    except Exception as err:      # pydantic: an unknown or invalid argument
        raise el.error("E203", f"scan: {err.errors()[0]['msg'] if hasattr(err, 'errors') else err}",
                       span, help=did_you_mean(next(iter(hyper), ""), ["reverse", "state"]))
    return el.emit(name, op, inputs, outs, span, frozen=frozen)


def _zero_state_types(el, cell: LayerVal, step: TensorType, span) -> list[TensorType]:
    """The states' types from the cell's port patterns, once the step's pattern is bound."""
    b = cell.target
    scope = Scope(vars=dict(el._bind_hyper(b, b.hyper, cell, span)))
    outer, el.scope = el.scope, scope
    try:
        el._bind_pattern(b.ports[0], TensorVal("step", step, None))
        out = []
        for p in b.ports[1:]:
            unknown = ["..." if isinstance(d, ast.EllipsisDim) else d.id for d in p.type.dims
                       if isinstance(d, ast.EllipsisDim) or
                       (isinstance(d, ast.Name) and d.id not in scope.vars)]
            if unknown:
                raise el.error("E304", f"the states of {b.name} need known sizes, but "
                               f"`{unknown[0]}` in `{p.name}` is bound by nothing", span,
                               notes=[(p.span, "the state's pattern")],
                               help="use a number or a parameter there, or pass `initial=` tensors")
            sized = el._tensor_type(p.type, bind_symbols=False)     # each dim a size >= 1
            out.append(TensorType(dtype=p.type.dtype or step.dtype, shape=sized.shape))
    finally:
        el.scope = outer
    try:
        check_zero_states(out, step.shape[0])
    except ShapeError as err:
        raise el.error(err.code, err.message, span, help=err.help)
    return out


def _elaborate_body(el, cell: LayerVal, name: str, step: TensorType, states, span,
                    frozen: bool = False) -> Model:
    vals = [TensorVal(f"{name}.step", step, span)] + \
        [TensorVal(f"{name}.state{i}", t, span) for i, t in enumerate(states)]
    outer_graph, outer_scope, outer_src = el.graph, el.scope, el.sym_src
    el.graph = GraphState(names=outer_graph.names)
    # the body runs on its own inputs: a size computed in it is read from them, never from
    # the model's inputs (which a torch loop body does not see)
    el.sym_src = {str(d): v for v in reversed(vals) for d in v.type.shape if d.is_atom()}
    el.scope = Scope(vars={}, prefix=name + ".", call_sites=outer_scope.call_sites,
                     blocks=outer_scope.blocks, frozen=frozen)
    try:
        res = el.apply(cell, vals, span)
        nodes = el.graph.nodes
    finally:
        el.graph, el.scope, el.sym_src = outer_graph, outer_scope, outer_src
    if res is POISON:
        raise Fail()
    res = list(res) if isinstance(res, tuple) else [res]
    if len(res) != 1 + len(states):
        raise el.error("E208", f"the cell {cell.name} must return the step's output and "
                       f"{len(states)} new state(s), it returns {len(res)} value(s)", span)
    for i, v in enumerate(res):
        if not isinstance(v, TensorVal):
            what = "the step's output" if i == 0 else f"new state {i}"
            raise el.error("E209", f"the cell {cell.name} returns {kind_of(v)} as {what}; a cell "
                           "returns tensors", span, expected="a tensor", got=kind_of(v))
    for i, (new, old) in enumerate(zip(res[1:], states)):
        if new.type != old:
            raise el.error("E302", f"the cell {cell.name} changes state {i + 1} from {old} to "
                           f"{new.type}", span, expected=str(old), got=str(new.type),
                           notes=[(new.origin, "the new state comes from here")])
    ports_in = [Port(name=v.value, value=v.value, type=v.type, span=span) for v in vals]
    ports_out = [Port(name=f"{name}.out{i}", value=v.value, type=v.type, span=span)
                 for i, v in enumerate(res)]
    return Model(name=cell.name, inputs=tuple(ports_in), outputs=tuple(ports_out),
                 nodes=tuple(nodes), span=span)
