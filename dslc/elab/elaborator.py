"""AST -> IR. Resolves names, expands blocks and repeats, builds ops from hyperparameters,
infers every shape, and collects every diagnostic of the phase (a failed value is POISON and
silences its dependents). Operators live in elab_operators.py, block calls in elab_blocks.py."""
from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..syntax import ast
from ..diagnostics import Diagnostic, Span, did_you_mean
from ..ir.dims import Dim, facts, fmt_shape
from ..ir.core import DTYPES, FLOAT_DTYPES, Model, Node, Port, TensorType
from ..ops import OPS
from ..ops.base import Op, ShapeError
from ..checks.domain import check_domain
from ..passes.weights import INIT_FUNCS, check_init
from .blocks import BlockMixin, _text
from .operators import OperatorMixin
from ..limits import MAX_DIGITS, MAX_LAYERS, TOO_LARGE
from .values import POISON, Abort, Fail, InitVal, LayerVal, Quotient, RepeatVal, TensorVal, kind_of, \
    norm as _norm, plain, show

LAYER_KWARGS = ("name", "init", "frozen", "tie")   # understood by every op, not hyperparameters


@dataclass
class Scope:
    vars: dict[str, Any]
    prefix: str = ""
    call_sites: tuple[Span, ...] = ()
    blocks: tuple[str, ...] = ()          # the block of each enclosing scope, outermost first
    tie: tuple[str, str] | None = None    # (this instance's prefix, the owner instance's prefix)
    frozen: bool = False                  # inside a `Block(frozen=true)` call
    counters: dict[str, int] = field(default_factory=dict)
    returned: tuple | None = None


@dataclass
class GraphState:
    nodes: list[Node] = field(default_factory=list)
    names: dict[str, Span] = field(default_factory=dict)    # every name -> where it is defined
    index: dict[str, int] = field(default_factory=dict)     # a node's name -> its place in nodes
    scopes: set[str] = field(default_factory=set)           # `enc.`, `enc.layers.`: node prefixes


class Elaborator(OperatorMixin, BlockMixin):
    def __init__(self, file: ast.File):
        self.blocks = {b.name: b for b in file.blocks}
        self.diags: list[Diagnostic] = []
        self.graph = GraphState()
        self.depth = 0
        self.earlier_layers = 0         # the layers of the file's models elaborated before
        self.assigned: dict[str, str] = {}     # value -> the spec variable first naming it

    # ---------------- diagnostics ----------------
    def error(self, code: str, message: str, span: Span | None, **kw) -> Fail:
        notes = tuple(kw.pop("notes", ())) + self._call_notes()
        self.diags.append(Diagnostic(code, message, span, notes=notes, **kw))
        return Fail()

    def _call_notes(self) -> tuple:
        """The block calls that led here, innermost first; a deep chain shows its two ends."""
        sites = tuple(reversed(self.scope.call_sites)) if hasattr(self, "scope") else ()
        notes = tuple((s, "in the block called here") for s in sites)
        if len(notes) > 6:
            notes = notes[:3] + ((None, f"... {len(notes) - 5} more block calls ..."),) + notes[-2:]
        return notes

    # ---------------- models ----------------
    def model(self, m: ast.ModelDef) -> Model | None:
        with facts({}) as mods:
            self.mods, self.constraints = mods, {}
            try:
                model = self._model(m)
            except Abort:
                return None
            if model is not None:
                found = check_domain(model, self.constraints)
                self.diags += found + _unused(model, self.assigned)
                return None if found else model
        return None

    def _name(self, variable: str, v) -> None:
        if isinstance(v, TensorVal):
            self.assigned.setdefault(v.value, variable)

    def _model(self, m: ast.ModelDef) -> Model | None:
        self.graph = GraphState()
        self.scope = Scope(vars={})
        self.sym_src: dict[str, TensorVal] = {}   # symbol -> an input that has it as a dim
        self.float_dtype: str | None = None       # the first floating input's dtype
        self.noise_inputs: list[Port] = []        # `randn_like(x, noise=input)` adds inputs
        before = len(self.diags)
        for p in m.params:
            if p.default is None:
                self.error("E204", f"model parameter `{p.name}` needs a default value", p.span,
                           help=f"write `{p.name}: {p.type or 'int'} = ...`")
                continue
            v = self._guard(lambda p=p: self._typed_param(p, self.eval(p.default)))
            self.scope.vars[p.name] = POISON if v is None else v    # a bad default: one error
        inputs, outputs = [], []
        for st in m.body:
            if isinstance(st, ast.Input):
                port = self._guard(lambda st=st: self._input(st))
                if port:
                    inputs.append(port)
                else:
                    self.scope.vars.setdefault(st.name, POISON)
            elif isinstance(st, ast.Output):
                for port in self._guard(lambda st=st: self._output(st)) or []:
                    first = next((o for o in outputs if o.name == port.name), None)
                    if first is None:
                        outputs.append(port)
                        continue
                    self.error("E206", f"a second output named `{port.name}`", port.span,
                               notes=[(first.span, f"the first output `{port.name}` is here")],
                               help="give each output a name of its own")
            elif isinstance(st, ast.Return):
                self.error("E209", "`return` belongs in a block; a model declares `output`s", st.span)
            else:
                self._guard(lambda st=st: self._stmt(st))
        if not outputs and len(self.diags) == before:
            self.error("E210", f"model `{m.name}` declares no output", m.span,
                       help="add a line such as `output y = x -> dense(10)`")
        if len(self.diags) > before:
            return None
        return Model(name=m.name, inputs=tuple(inputs + self.noise_inputs), outputs=tuple(outputs),
                     nodes=tuple(self.graph.nodes), span=m.span, constraints=dict(self.constraints))

    def _guard(self, fn):
        try:
            return fn()
        except Fail:
            return None

    def _input(self, st: ast.Input) -> Port:
        if st.name in self.scope.vars:
            raise self.error("E206", f"`{st.name}` is already defined", st.span)
        ttype = self._tensor_type(st.type, bind_symbols=True)
        for c in st.where:          # a bad constraint is reported; the input stays defined
            self._guard(lambda c=c: self._constraint(c, ttype))
        val = self.scope.vars[st.name] = TensorVal(st.name, ttype, st.span)
        self.graph.names[st.name] = st.span
        for d in ttype.shape:
            if not d.is_const() and d.is_atom():
                self.sym_src.setdefault(str(d), val)
        if self.float_dtype is None and ttype.dtype in FLOAT_DTYPES:
            self.float_dtype = ttype.dtype
        return Port(name=st.name, value=st.name, type=ttype, span=st.span)

    def _output(self, st: ast.Output) -> list[Port]:
        if st.value is None:
            for name in st.names:
                if name not in self.scope.vars:
                    raise self.error("E201", f"unknown name `{name}`", st.span,
                                     help=did_you_mean(name, self.scope.vars))
            vals = [self.scope.vars[n] for n in st.names]
        else:
            self._stmt(ast.Assign(st.span, st.names, st.value))
            vals = [self.scope.vars[n] for n in st.names]
        if any(v is POISON for v in vals):
            raise Fail()
        for name, v in zip(st.names, vals):
            if not isinstance(v, TensorVal):
                raise self.error("E209", f"output `{name}` must be a tensor, got {kind_of(v)}", st.span)
        for name, v in zip(st.names, vals):
            if name != v.value and name in self.graph.names:   # ONNX shares one namespace
                raise self.error("E206", f"output `{name}` has the name of a layer or input "
                                 "that is not this output", st.span,
                                 notes=[(self.graph.names[name], f"`{name}` is defined here")],
                                 help=f"rename the output or the layer `{name}`")
        return [Port(name=n, value=v.value, type=v.type, span=st.span) for n, v in zip(st.names, vals)]

    _FLIP = {">=": "<=", "<=": ">=", ">": "<", "<": ">"}

    def _constraint(self, c, ttype: TensorType) -> None:
        """`H % 32 == 0`, `H >= 32`, `H <= 1024` (either side): facts about a symbol."""
        def sym(e):
            if isinstance(e, ast.Name) and isinstance(self.scope.vars.get(e.id), Dim):
                return e.id
            return None

        def lit(e):
            v = self.eval(e)
            return v if isinstance(v, int) and not isinstance(v, bool) else None
        form = "write `H % 32 == 0`, `H >= 32` or `H <= 1024` for a symbolic dim H"
        if not isinstance(c, ast.BinOp):
            raise self.error("E205", "a constraint must compare a symbolic dim", c.span, help=form)
        left, op, right = c.left, c.op, c.right
        if op == "==" and isinstance(left, ast.BinOp) and left.op == "%" and sym(left.left):
            m, z = lit(left.right), lit(right)
            if m is None or m < 1 or z != 0:
                raise self.error("E205", "a divisibility constraint reads `H % m == 0` with m >= 1",
                                 c.span, help=form)
            s = sym(left.left)
            entry = self.constraints.setdefault(s, {})
            entry["mod"] = self.mods[s] = math.lcm(entry.get("mod", 1), m)
            return
        if sym(right) and not sym(left):
            left, right, op = right, left, self._FLIP.get(op, op)
        s, v = sym(left), lit(right)
        if s is None or v is None or op not in self._FLIP:
            raise self.error("E205", "unsupported constraint", c.span, help=form)
        entry = self.constraints.setdefault(s, {})
        if op in (">=", ">"):       # a size is >= 1 unless a bound allows 0 (an empty cache)
            bound = max(0, v + (op == ">"))
            entry["min"] = max(entry.get("min", bound), bound)
        else:
            entry["max"] = min(entry.get("max", v), v - (op == "<"))
        lo, hi = entry.get("min", 1), entry.get("max")
        if hi is not None and -(-lo // entry.get("mod", 1)) * entry.get("mod", 1) > hi:
            del entry["max"]        # dropped, so the model's other errors are still found
            raise self.error("E205", f"no size of `{s}` satisfies its constraints", c.span)

    def _tensor_type(self, t: ast.TensorTypeExpr, bind_symbols: bool) -> TensorType:
        dtype = t.dtype or "f32"
        if dtype not in DTYPES:
            raise self.error("E205", f"unknown dtype `{dtype}`", t.span,
                             expected=", ".join(DTYPES), got=dtype, help=did_you_mean(dtype, DTYPES))
        dims = []
        for d in t.dims:
            if bind_symbols and isinstance(d, ast.Name) and d.id not in self.scope.vars:
                self.scope.vars[d.id] = Dim.of(d.id)
            v = _norm(self.eval(d))
            if v is POISON:
                raise Fail()
            if isinstance(v, Quotient):
                raise self._inexact(v, d.span, "a dimension")
            if isinstance(v, bool) or not isinstance(v, (int, Dim)):
                raise self.error("E205", f"a dimension must be a size, got {kind_of(v)}", d.span)
            if isinstance(v, int) and v < 1:
                raise self.error("E303", f"a dimension must be at least 1, got {v}", d.span)
            dims.append(Dim.of(v))
        return TensorType(dtype=dtype, shape=tuple(dims))

    # ---------------- statements ----------------
    def _stmt(self, st) -> None:
        if isinstance(st, ast.Assign):
            try:
                v = self.eval(st.value)
            except Fail:
                for t in st.targets:   # one root cause, one error: dependents stay silent
                    self.scope.vars[t] = POISON
                raise
            if len(st.targets) == 1:
                self.scope.vars[st.targets[0]] = v
                self._name(st.targets[0], v)
                return
            vals = (POISON,) * len(st.targets) if v is POISON else v
            if not isinstance(vals, tuple) or len(vals) != len(st.targets):
                n = len(vals) if isinstance(vals, tuple) else 1
                for t in st.targets:
                    self.scope.vars[t] = POISON
                raise self.error("E208", f"{len(st.targets)} names on the left but {n} value(s) on "
                                 "the right", st.span)
            for t, x in zip(st.targets, vals):
                self.scope.vars[t] = x
                self._name(t, x)
        elif isinstance(st, ast.Return):
            self.scope.returned = (POISON,) * len(st.values)
            self.scope.returned = tuple(self.eval(e) for e in st.values)
        elif isinstance(st, ast.Input):
            raise self.error("E209", "`input` belongs in a model; a block takes tensor parameters",
                             st.span)
        elif isinstance(st, ast.Output):
            raise self.error("E209", "`output` belongs in a model; a block uses `return`", st.span)

    # ---------------- expressions ----------------
    def eval(self, e, bare_ok: bool = False):
        method = getattr(self, f"_e_{type(e).__name__}")
        return method(e, bare_ok) if isinstance(e, ast.Name) else method(e)

    def _e_Literal(self, e):
        return e.value

    def _e_Name(self, e, bare_ok=False):
        if e.id in self.scope.vars:
            return self.scope.vars[e.id]
        if bare_ok or e.id in DTYPES:   # `padding=same`, `cast(f16)`: a bare word is a string
            return e.id
        if e.id in OPS:
            return LayerVal(e.id, OPS[e.id], span=e.span)
        if e.id in self.blocks:
            return LayerVal(e.id, self.blocks[e.id], span=e.span)
        if e.id in INIT_FUNCS:
            return InitVal(e.id)
        known = list(self.scope.vars) + list(OPS) + list(self.blocks) + list(DTYPES)
        port = self._ellipsis_port()
        if port is None:
            raise self.error("E201", f"unknown name `{e.id}`", e.span, help=did_you_mean(e.id, known))
        dots = port.type.dims[port.type.ellipsis]
        raise self.error("E201", f"unknown name `{e.id}`", e.span,
                         notes=[(dots.span, f"the axes `...` stands for in `{port.name}` have "
                                 "no names")],
                         help=" ".join(filter(None, (did_you_mean(e.id, known), (
                             f"to use the size of an axis, name it in the pattern: "
                             f"`{port.name}: {_with_last(port.type, e.id)}` binds the axis "
                             f"after those of `...` to `{e.id}`")))))

    def _ellipsis_port(self) -> ast.Param | None:
        """Inside a block with a port pattern such as `[N, ...]`: that port."""
        block = self.blocks.get(self.scope.blocks[-1]) if self.scope.blocks else None
        return next((p for p in block.ports if p.type.ellipsis is not None), None) if block else None

    def _callee(self, e):
        """Evaluate the thing being applied; an unknown name there is an unknown op (E202)."""
        if isinstance(e, ast.Name) and e.id not in self.scope.vars and e.id not in OPS \
                and e.id not in self.blocks and e.id not in INIT_FUNCS:
            raise self.error("E202", f"unknown op or block `{e.id}`", e.span,
                             help=did_you_mean(e.id, list(OPS) + list(self.blocks)))
        return self.eval(e)

    def _e_TupleLit(self, e):
        return tuple(self._value(x) for x in e.items)

    def _e_ListLit(self, e):
        return [self._value(x) for x in e.items]

    def _e_RecordLit(self, e):
        return {k: self.eval(v, bare_ok=True) for k, v in e.entries}

    def _value(self, x, bare_ok: bool = False):
        v = self.eval(x, bare_ok=bare_ok)
        if v is POISON:
            raise Fail()
        return v

    def _e_IfExpr(self, e):
        c = self.eval(e.cond)
        if not isinstance(c, bool):
            raise self.error("E205", f"an `if` condition must be a bool, got {kind_of(c)}", e.cond.span)
        return self.eval(e.then if c else e.other)

    def _e_Pipe(self, e):
        """`a -> f -> g` is Pipe(Pipe(a, f), g): walk down to `a`, then apply the stages in a
        loop, so a chain of any length never recurses per stage."""
        pipes = []
        while isinstance(e, ast.Pipe):
            pipes.append(e)
            e = e.source
        value = self.eval(e)
        for p in reversed(pipes):
            value = self._pipe_stage(value, p)
        return value

    def _pipe_stage(self, src, e):
        stage = self._callee(e.stage)
        if src is POISON or stage is POISON:
            return POISON
        inputs = list(src) if isinstance(src, tuple) else [src]
        for v in inputs:
            if not isinstance(v, TensorVal):
                if v is POISON:
                    return POISON
                raise self.error("E209", f"the left of `->` must be a tensor, got {kind_of(v)}",
                                 e.source.span)
        if isinstance(stage, RepeatVal):
            return self._apply_repeat(stage, inputs, e.stage.span)
        if not isinstance(stage, LayerVal):
            fn = e.stage.func.id if isinstance(e.stage, ast.Call) and \
                isinstance(e.stage.func, ast.Name) else None
            raise self.error("E209", f"the right of `->` must be a layer, got {kind_of(stage)}",
                             e.stage.span, help=f"`{fn}` of numbers is a number; the reduction "
                             f"over several axes is `{fn}(axis=(1, 2))`"
                             if fn in ("max", "min") else None)
        return self.apply(stage, inputs, e.stage.span)

    def _e_Call(self, e):
        func = self._callee(e.func)
        if func is POISON:
            return POISON
        if isinstance(func, InitVal):     # `kaiming_normal(nonlinearity=tanh, mode=fan_out)`
            return InitVal(func.fn, {a.name or f"_{i}": plain(self._value(a.value, bare_ok=True))
                                     for i, a in enumerate(e.args)})
        if not isinstance(func, LayerVal) or func.args or func.kwargs:
            hidden = isinstance(e.func, ast.Name) and (e.func.id in OPS or e.func.id in self.blocks)
            raise self.error("E209", f"{kind_of(func)} cannot be called", e.func.span,
                             help=f"the name `{e.func.id}` is bound here, which hides the "
                                  f"{'op' if e.func.id in OPS else 'block'} of that name; "
                                  "rename the variable" if hidden else None)
        tensors, args, kwargs = [], [], []
        after_args = False
        for a in e.args:
            if a.name is not None:
                if a.name in (k for k, _, _ in kwargs):
                    raise self.error("E206", f"argument `{a.name}` given twice", a.span)
                kwargs.append((a.name, self.eval(a.value, bare_ok=True), a.span))
                continue
            v = self.eval(a.value)
            if v is POISON or isinstance(v, TensorVal) or (
                    isinstance(v, tuple) and v and all(isinstance(t, TensorVal) for t in v)):
                # Tensors come before the hyperparameters or all after them, as in torch's
                # einsum("ij,jk->ik", a, b); interleaved they are an error.
                if args and tensors and not after_args:
                    raise self.error("E205", "tensor inputs come before the hyperparameters "
                                     "or after all of them, not between", a.span)
                after_args = bool(args)
                tensors += list(v) if isinstance(v, tuple) else [v]
            else:
                if after_args:
                    raise self.error("E205", "tensor inputs come before the hyperparameters "
                                     "or after all of them, not between", a.span)
                args.append((v, a.span))
        for k, v, s in kwargs:
            if v is POISON:
                return POISON
        if self._on_numbers(func, tensors, args, kwargs):     # `max(1, C // 4)`, `abs(d)`
            return self._number_call(func.name, args, e.span)
        layer = LayerVal(func.name, func.target, tuple(args), tuple(kwargs), e.span)
        if not tensors and not (isinstance(func.target, type) and func.target.arity[0] == 0):
            return layer            # partially applied; `param([16, 64])` is a value already
        if any(t is POISON for t in tensors):
            return POISON
        return self.apply(layer, tensors, e.span)

    # ---------------- application ----------------
    def _apply_repeat(self, rep: RepeatVal, inputs, span):
        kw = {k: (v, s) for k, v, s in rep.layer.kwargs}
        base = kw.pop("name", (None, None))[0]
        out, before = inputs, len(self.graph.nodes)
        for i in range(rep.times):
            if i == 1:                  # the first copy's size tells whether all of them fit
                self._repeat_fits(len(self.graph.nodes) - before, rep.times, before, span)
            named = base and f"{base}.{i}"
            kwargs = tuple((k, v, s) for k, (v, s) in kw.items()) + \
                ((("name", named, span),) if named else ())
            layer = LayerVal(rep.layer.name, rep.layer.target, rep.layer.args, kwargs, rep.layer.span)
            res = self.apply(layer, out, span)
            if res is POISON:
                return POISON
            out = list(res) if isinstance(res, tuple) else [res]
        return out[0] if len(out) == 1 else tuple(out)

    def _repeat_fits(self, per: int, times: int, before: int, span: Span) -> None:
        """E307 at a repeat whose copies (`per` layers each) would pass MAX_LAYERS, before
        they are made."""
        if self.earlier_layers + before + per * times > MAX_LAYERS:
            raise self._too_many(f"repeated {times:,} times, {per:,} layer(s) each, ", span)

    def _too_many(self, why: str, span: Span) -> Abort:
        whose = f"this model and the file's earlier ones have" if self.earlier_layers else "the model has"
        self.error("E307", f"{why}{whose} more than {MAX_LAYERS:,} layers", span,
                   expected=f"at most {MAX_LAYERS:,} layers in one file's models",
                   help="repeats and block calls multiply: check the repeat counts")
        return Abort()

    def apply(self, layer: LayerVal, inputs: list, span: Span):
        if any(v is POISON for v in inputs):
            return POISON
        if isinstance(layer.target, ast.BlockDef):
            return self._apply_block(layer, inputs, span)
        return self._apply_op(layer, inputs, span)

    def _node_name(self, kind: str, explicit, span: Span) -> str:
        if explicit is not None:
            if not isinstance(explicit, str):
                raise self.error("E205", f"`name` must be a name, got {kind_of(explicit)}", span)
            full = self.scope.prefix + explicit
            if full in self.graph.names:
                raise self.error("E206", f"a layer named `{full}` already exists", span,
                                 notes=[(self.graph.names[full], f"`{full}` is defined here")],
                                 help="give one of them another name=")
        else:
            while True:
                n = self.scope.counters[kind] = self.scope.counters.get(kind, 0) + 1
                full = f"{self.scope.prefix}{kind}_{n}"
                if full not in self.graph.names:
                    break
        self.graph.names[full] = span
        return full

    def _tensor_kwargs(self, cls, layer: LayerVal, inputs: list):
        """Move tensor-valued keyword arguments (`initial=state`) into the inputs; the op's
        field then holds how many tensors were given."""
        extra, kwargs = {}, []
        for k, v, s in layer.kwargs:
            if k not in cls.tensor_args:
                kwargs.append((k, v, s))
                continue
            vals = v if isinstance(v, tuple) else (v,)
            if any(x is POISON for x in vals):
                raise Fail()
            if not vals or not all(isinstance(x, TensorVal) for x in vals):
                raise self.error("E205", f"`{k}` takes tensors, got {kind_of(v)}", s)
            extra[k] = list(vals)
            kwargs.append((k, len(vals), s))
        ordered = [t for k in cls.tensor_args for t in extra.get(k, [])]
        return LayerVal(layer.name, layer.target, layer.args, tuple(kwargs), layer.span), inputs + ordered

    def _apply_op(self, layer: LayerVal, inputs: list, span: Span):
        cls: type[Op] = layer.target
        piped = len(inputs)         # the tensors before the keyword ones (`mask=m`) are added
        if cls.tensor_args:
            layer, inputs = self._tensor_kwargs(cls, layer, inputs)
        if cls.regions:           # scan: its cell block is elaborated into its body
            from .scan import apply_scan
            return apply_scan(self, layer, inputs, span)
        special = {k: (v, s) for k, v, s in layer.kwargs if k in LAYER_KWARGS}
        op = self._build_op(cls, layer, span)
        lo, hi = cls.arity
        if piped < lo <= len(inputs):
            raise self.error("E208", f"{cls.kind} takes {lo} tensor input(s) besides "
                             f"{', '.join(f'`{k}=`' for k in cls.tensor_args)}, got {piped}", span,
                             expected=str(lo), got=str(piped))
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            raise self.error("E208", f"{cls.kind} takes {want} tensor input(s), got {len(inputs)}",
                             span, expected=want, got=str(len(inputs)))
        types = tuple(v.type for v in inputs)
        try:
            outs = op.infer(*types)
        except ShapeError as err:
            raise self._shape_error(err, inputs, span)
        sizes = op.runtime_sizes(types, outs)
        if sizes:
            inputs = inputs + self._size_sources(op, sizes, inputs, span)
        name = self._node_name(cls.kind, special.get("name", (None,))[0], span)
        if getattr(op, "noise", None) == "input":
            inputs = inputs + [self._noise_input(op, name, inputs, span)]
        frozen = self._frozen(special, span) or self.scope.frozen
        init = self._init(op, tuple(v.type for v in inputs), special.get("init"), span)
        in_types = tuple(v.type for v in inputs)
        tie = special.get("tie")
        if tie is None and self.scope.tie and op.params(*in_types):
            own, owner = self.scope.tie        # inside a tied block: the same layer of the owner
            tie = (owner + name[len(own):], span)
        tied, ties = self._tie(op, in_types, tie)
        return self.emit(name, op, inputs, outs, span, frozen=frozen, init=init, tied_to=tied,
                         ties=ties)

    def _frozen(self, special: dict, span: Span) -> bool:
        frozen, fspan = special.get("frozen", (False, span))
        if not isinstance(frozen, bool):
            raise self.error("E205", f"`frozen` must be true or false, got {kind_of(frozen)}", fspan)
        return frozen

    def _size_sources(self, op: Op, sizes, inputs: list, span: Span) -> list:
        """`p -> expand(N, 16, 64)`, `x -> reshape(N, 8, H, W)`: a size the lowerings compute
        at run time (`Op.runtime_sizes`) reads each symbol from an input dim that is exactly
        that symbol; a model input that has one joins the node's inputs where they lack it."""
        have = {str(d) for v in inputs for d in v.type.shape if d.is_atom()}
        extra: list = []
        for sym in sorted(set().union(*(d.symbols() for d in sizes)) - have):
            if sym in have:
                continue
            src = self.sym_src.get(sym)
            if src is None:
                raise self.error("E304", f"{op.kind}: the size `{sym}` is computed at run time, "
                                 "but no input here has it as a dim of its own", span,
                                 help=f"give an input (a scan cell's step or state, inside a "
                                      f"cell) a dim `{sym}` of its own, or use a number")
            have |= {str(d) for d in src.type.shape if d.is_atom()}
            extra.append(src)
        return extra

    def _noise_input(self, op: Op, name: str, inputs: list, span: Span) -> TensorVal:
        """`randn_like(x, noise=input)`: the noise is a model input of its own, named after
        the layer, after the declared inputs (both backends read it; nothing is random)."""
        port = Port(name=f"{name}_noise", value=f"{name}_noise",
                    type=op.noise_type(*(v.type for v in inputs)), span=span)
        if port.name in self.graph.names:
            raise self.error("E206", f"`{port.name}` is already defined", span,
                             notes=[(self.graph.names[port.name], f"`{port.name}` is defined here")])
        self.graph.names[port.name] = span
        self.noise_inputs.append(port)
        return TensorVal(port.value, port.type, span)

    def _tie(self, op: Op, in_types, spec) -> tuple[str | None, dict]:
        """`tie=wte`: use every parameter of the layer named wte (GPT-2's LM head and its token
        embedding); `tie={weight: enc}`: only those named (a tied autoencoder's decoder keeps its
        own bias). One tensor, counted once, emitted once. Returns (owner of all, {local: owner})."""
        if spec is None:
            return None, {}
        value, s = spec
        mine = op.params(*in_types)
        if isinstance(value, dict):
            unknown = [k for k in value if k not in mine]
            if unknown or not value:
                raise self.error("E205", f"`tie`: this layer has no parameter `{unknown[0]}`" if unknown
                                 else "`tie` names at least one parameter", s,
                                 expected=", ".join(mine) or "no parameters", got=", ".join(value))
            return None, {k: self._tie_owner(owner, {k: mine[k]}, s) for k, owner in value.items()}
        return self._tie_owner(value, mine, s), {}

    def _tie_owner(self, owner_name, mine: dict, s: Span) -> str:
        """The layer whose parameters `mine` (local -> shape) are; their shapes must agree."""
        if not isinstance(owner_name, str):
            raise self.error("E205", f"`tie` names a layer, or a record {{weight: layer}}, got "
                             f"{kind_of(owner_name)}", s)
        at = max((self.graph.index.get(k, -1) for k in (self.scope.prefix + owner_name, owner_name)))
        owner = self.graph.nodes[at] if at >= 0 else None
        if owner is None and self.scope.tie:
            raise self.error("E302", f"the tied block has no layer `{owner_name}` matching this one",
                             s, help="a block shares weights with another call of the same block")
        if owner is None:
            raise self.error("E201", f"`tie`: no layer named `{owner_name}` before this one", s,
                             help=did_you_mean(owner_name, [n.name for n in self.graph.nodes]))
        theirs = owner.op.params(*owner.in_types)
        for local, shape in mine.items():
            if theirs.get(local) != shape:
                flip = len(shape) == 2 and theirs.get(local) == shape[::-1]
                raise self.error("E302", f"`tie`: this layer's `{local}` is {list(shape)}, "
                                 f"`{owner.name}` has " + (f"{list(theirs[local])}" if local in theirs
                                                           else "no such parameter"), s,
                                 notes=[(owner.span, f"`{owner.name}` is defined here")],
                                 help="`dense(..., transpose=true)` stores its weight [in, out], "
                                      "the owner's transposed" if flip else None)
        return owner.owner_of(next(iter(mine))) if mine else owner.name

    def emit(self, name: str, op: Op, inputs: list, outs, span: Span, **extra):
        """Add a node to the graph; its outputs become tensor values."""
        if self.earlier_layers + len(self.graph.nodes) >= MAX_LAYERS:
            raise self._too_many("", span)
        if any(Dim.of(d).largest() >= TOO_LARGE for t in outs for d in t.shape):
            raise self.error("E307", f"`{name}` makes a size of more than {MAX_DIGITS} digits", span,
                             expected=f"sizes of at most {MAX_DIGITS} digits")
        out_names = (name,) if len(outs) == 1 else tuple(f"{name}:{i}" for i in range(len(outs)))
        node = Node(name=name, op=op, inputs=tuple(v.value for v in inputs), outputs=out_names,
                    in_types=tuple(v.type for v in inputs), out_types=tuple(outs), span=span,
                    call_sites=self.scope.call_sites, blocks=self.scope.blocks, **extra)
        self.graph.index[name] = len(self.graph.nodes)
        self.graph.nodes.append(node)
        dot = name.rfind(".")
        while dot > 0 and name[:dot + 1] not in self.graph.scopes:
            self.graph.scopes.add(name[:dot + 1])
            dot = name.rfind(".", 0, dot)
        vals = tuple(TensorVal(n, t, span) for n, t in zip(out_names, outs))
        return vals[0] if len(vals) == 1 else vals

    def _build_op(self, cls: type[Op], layer: LayerVal, span: Span) -> Op:
        fields = list(cls.model_fields)
        values: dict[str, Any] = {}
        if cls.varargs and layer.args:     # reshape(N, -1), permute(0, 2, 1)
            values[cls.varargs] = (tuple(v for v, _ in layer.args), layer.args[0][1])
        elif len(layer.args) > len(cls.positional):
            extra = layer.args[len(cls.positional)]
            names = ", ".join(cls.positional) or "none"
            raise self.error("E207", f"{cls.kind} takes {len(cls.positional)} positional "
                             f"argument(s) ({names}), got {len(layer.args)}", extra[1],
                             help=f"name the others: {', '.join(f for f in fields)}")
        for (v, s), key in zip(() if cls.varargs else layer.args, cls.positional):
            values[key] = (v, s)
        for k, v, s in layer.kwargs:
            if k in LAYER_KWARGS:
                continue
            if k not in fields:
                raise self.error("E203", f"{cls.kind} has no argument `{k}`", s,
                                 expected=", ".join(fields + list(LAYER_KWARGS)), got=k,
                                 help=" ".join(filter(None, (
                                     did_you_mean(k, fields + list(LAYER_KWARGS)),
                                     f"(`dslc ops {cls.kind}` lists its arguments)"))))
            if k in values:
                raise self.error("E206", f"argument `{k}` given twice (positionally and by name)", s)
            values[k] = (v, s)
        if cls.model_dtype and "dtype" not in values:
            values["dtype"] = (self.float_dtype or "f32", span)   # a free tensor: the model's
        for k, (v, s) in values.items():
            inexact = _quotient_in(v)
            if inexact is not None and not _takes_float(cls.model_fields[k].annotation):
                use = layer.span if k == cls.varargs else s     # `reshape(N, C / 3)`: the call
                raise self._inexact(inexact, use, f"{cls.kind}: `{k}`")
            if not _finite(v):
                raise self.error("E205", f"{cls.kind}: `{k}` must be a finite number", s,
                                 got=show(v), help="an overflowing literal such as 1e999 is "
                                 "infinity; write the value itself (e.g. -1e9 for a mask)")
        try:
            return cls(**{k: _to_field(v) for k, (v, _) in values.items()})
        except ValidationError as err:
            first = err.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else None
            where = values.get(key, (None, layer.span or span))[1]
            if first["type"] == "missing":
                raise self.error("E204", f"{cls.kind} needs argument `{key}`", layer.span or span,
                                 help=f"e.g. {cls.kind}({', '.join(cls.positional) or key + '=...'})")
            got = values.get(key, (None,))[0]
            msg = first["msg"].replace("Input should be", "expected")
            raise self.error("E205", f"{cls.kind}: invalid `{key}`: {msg}", where,
                             got=show(got) if got is not None else None)

    def _init(self, op: Op, in_types, spec, span) -> dict:
        if spec is None:
            return {}
        value, s = spec
        shapes = op.params(*in_types)
        problem, init = check_init(plain(value), shapes)
        if problem:
            raise self.error("E205", f"invalid `init`: {problem}", s)
        return init

    def _shape_error(self, err: ShapeError, inputs, span) -> Fail:
        idx = err.culprits if err.culprits is not None else range(len(inputs))
        notes = dict.fromkeys(      # one note per place, when a tensor is used twice
            (inputs[i].origin, f"{fmt_shape(inputs[i].type.shape)} comes from here")
            for i in idx if i < len(inputs) and inputs[i].origin and inputs[i].origin != span)
        return self.error(err.code, err.message, span, expected=err.expected, got=err.got,
                          help=err.help, notes=list(notes), requires=err.requires)


def _unused(model: Model, assigned: dict[str, str]) -> list[Diagnostic]:
    """Warnings for layers none of whose results reach an output: their parameters still
    count and still exist in both backends, which is rarely what was meant. The layer is named
    by the spec variable holding its result (`assigned`), when there is one."""
    used = {p.value for p in model.outputs} | {v for n in model.nodes for v in n.inputs}
    out = []
    for n in model.nodes:
        if not used.intersection(n.outputs):
            extra = f" (its {n.params():,} parameters are still counted)" if n.params() else ""
            var = next((assigned[v] for v in n.outputs if v in assigned), None)
            what = f"`{var}` ({n.describe()}, layer {n.name})" if var else \
                f"`{n.name}` ({n.describe()})"
            out.append(Diagnostic("W201", f"the result of {what} is never "
                                  f"used{extra}", n.span, severity="warning",
                                  notes=tuple((s, "in the block called here") for s in reversed(n.call_sites)),
                                  help="use it in an output, or remove it"))
    return out


def _with_last(pattern: ast.TensorTypeExpr, name: str) -> str:
    """`[N, ...]` with `name` after the `...`: `[N, ..., C]`."""
    dims = [_text(d) for d in pattern.dims]
    dims.insert(pattern.ellipsis + 1, name)
    return "[" + ", ".join(dims) + "]"


def _finite(v) -> bool:
    """No float infinity or NaN in an argument value (nested in lists too)."""
    if isinstance(v, (list, tuple)):
        return all(_finite(x) for x in v)
    return not isinstance(v, float) or math.isfinite(v)


def _to_field(v):
    """Language values -> pydantic field values (lists become tuples, sizes become ints,
    quotients plain floats)."""
    if isinstance(v, list):
        return tuple(_to_field(x) for x in v)
    if isinstance(v, tuple):
        return tuple(_to_field(x) for x in v)
    return plain(_norm(v))


def _takes_float(annotation) -> bool:
    """Whether a field's type admits a float anywhere in it (`float`, `float | None`, `Any`)."""
    if annotation in (float, Any):
        return True
    return any(_takes_float(a) for a in typing.get_args(annotation))


def _quotient_in(v) -> Quotient | None:
    """The first inexact int division in an argument value (nested in lists too)."""
    if isinstance(v, (list, tuple)):
        return next((q for q in map(_quotient_in, v) if q is not None), None)
    return v if isinstance(v, Quotient) else None


def elaborate(file: ast.File, imported: tuple = ()) -> tuple[dict[str, Model], list[Diagnostic]]:
    """Elaborate every model of `file`; `imported` are the blocks of the files it imports."""
    el = Elaborator(file)
    el.blocks = {b.name: b for b in list(imported) + list(file.blocks)}
    models: dict[str, Model] = {}
    seen: dict[str, Span] = {}
    for d in list(imported) + list(file.blocks) + list(file.models):
        if d.name in seen:
            el.diags.append(Diagnostic("E206", f"`{d.name}` is defined twice", d.span,
                                       notes=((seen[d.name], "first defined here"),)))
        seen[d.name] = d.span
        if d.name in OPS:
            el.diags.append(Diagnostic("E206", f"`{d.name}` is the name of a built-in op", d.span,
                                       help="choose another name for the block"))
    for m in file.models:
        model = el.model(m)
        if model is not None:
            models[m.name] = model
        el.earlier_layers += len(el.graph.nodes)   # MAX_LAYERS bounds the work of one check
    return models, el.diags
