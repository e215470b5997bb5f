"""Block calls: hyperparameters bound and typed, tensor ports matched against their shape
patterns (whose names bind sizes), the body elaborated in a scope of its own, shared weights."""
from __future__ import annotations

from ..syntax import ast
from ..diagnostics import Span, did_you_mean
from ..ir.dims import Dim, fmt_shape
from ..limits import MAX_BLOCK_DEPTH
from .values import POISON, Abort, LayerVal, Quotient, TensorVal, kind_of, norm as _norm, show

SCALAR_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,),
                "tuple": (tuple,), "any": (object,)}


class BlockMixin:
    """Elaborator methods for block calls (see Elaborator for the state they use)."""

    def _apply_block(self, layer: LayerVal, inputs: list, span: Span):
        from .elaborator import LAYER_KWARGS, Scope
        b: ast.BlockDef = layer.target
        if self.depth >= MAX_BLOCK_DEPTH:
            self.error("E307", f"block `{b.name}` is called {MAX_BLOCK_DEPTH} blocks deep",
                       span, expected=f"blocks nested at most {MAX_BLOCK_DEPTH} deep",
                       help="a block that calls itself needs an `if` that ends the recursion")
            raise Abort()
        hyper = b.hyper
        # Tensor ports may be given by keyword (`DecoderLayer(memory=m)`); the piped tensors
        # fill the other ports in order, so such a layer can be repeated.
        by_name = {k: (v, s) for k, v, s in layer.kwargs if k in {p.name for p in b.ports}}
        for k, (v, s) in by_name.items():
            if v is POISON:
                return POISON
            if not isinstance(v, TensorVal):
                raise self.error("E209", f"port `{k}` of block {b.name} takes a tensor, got "
                                 f"{kind_of(v)}", s)
        ports = [p for p in b.ports if p.name not in by_name]
        if len(inputs) != len(ports):
            raise self.error("E208", f"block {b.name} takes {len(ports)} tensor input(s), got "
                             f"{len(inputs)}", span, expected=str(len(ports)), got=str(len(inputs)))
        ports += [p for p in b.ports if p.name in by_name]
        inputs = list(inputs) + [by_name[p.name][0] for p in b.ports if p.name in by_name]
        special = {k: (v, s) for k, v, s in layer.kwargs if k in LAYER_KWARGS}
        bound = self._bind_hyper(b, hyper, layer, span)
        name = self._node_name(b.name, special.get("name", (None,))[0], span)
        outer = self.scope
        if "init" in special:
            raise self.error("E203", f"`init` on a call of block {b.name}: give it to the layers "
                             "inside", special["init"][1], help="or a block hyperparameter they use")
        inner = Scope(vars=dict(bound), prefix=name + ".", call_sites=outer.call_sites + (span,),
                      blocks=outer.blocks + (b.name,),
                      tie=self._block_tie(special.get("tie"), name) or outer.tie,
                      frozen=self._frozen(special, span) or outer.frozen)
        self.scope, self.depth = inner, self.depth + 1
        try:
            for port, v in zip(ports, inputs):
                self._bind_pattern(port, v)
                inner.vars[port.name] = v
            for st in b.body:
                self._guard(lambda st=st: self._stmt(st))
        finally:
            self.scope, self.depth = outer, self.depth - 1
        if inner.returned is None:
            raise self.error("E210", f"block `{b.name}` has no `return`", b.span)
        vals = inner.returned
        if any(v is POISON for v in vals):
            return POISON
        # Seen from the caller, a block's results come from its call.
        vals = tuple(TensorVal(v.value, v.type, span) if isinstance(v, TensorVal) else v for v in vals)
        return vals[0] if len(vals) == 1 else vals

    def _block_tie(self, spec, name: str) -> tuple[str, str] | None:
        """`Tower(tie=left)`: every layer of this call uses the parameters of the same layer in
        the earlier call named `left` (Siamese branches)."""
        if spec is None:
            return None
        owner, s = spec
        if not isinstance(owner, str):
            raise self.error("E205", f"`tie` names a block call, got {kind_of(owner)}", s)
        full = self.scope.prefix + owner + "."
        if full not in self.graph.scopes:
            raise self.error("E201", f"`tie`: no block call named `{owner}` before this one", s,
                             help="name the first call: `x -> Tower(name=left)`")
        return (name + ".", full)

    def _bind_hyper(self, b: ast.BlockDef, hyper, layer: LayerVal, span) -> dict:
        from .elaborator import LAYER_KWARGS
        if len(layer.args) > len(hyper):
            raise self.error("E207", f"block {b.name} takes {len(hyper)} hyperparameter(s), got "
                             f"{len(layer.args)}", layer.args[len(hyper)][1])
        given = {p.name: v for p, (v, _) in zip(hyper, layer.args)}
        names = [p.name for p in hyper]
        for k, v, s in layer.kwargs:
            if k in LAYER_KWARGS or k in {p.name for p in b.ports}:
                continue
            if k not in names:
                raise self.error("E203", f"block {b.name} has no parameter `{k}`", s,
                                 expected=", ".join(names), got=k, help=did_you_mean(k, names))
            given[k] = v
        out = {}
        for p in hyper:
            if p.name in given:
                out[p.name] = self._typed_param(p, given[p.name], span)
            elif p.default is not None:
                out[p.name] = self._typed_param(p, self.eval(p.default), p.span)
            else:
                raise self.error("E204", f"block {b.name} needs parameter `{p.name}`", span,
                                 notes=[(p.span, "declared here")])
        return out

    def _typed_param(self, p: ast.Param, v, span=None):
        want = SCALAR_TYPES.get(p.type) if isinstance(p.type, str) else None
        if isinstance(p.type, str) and want is None:
            raise self.error("E205", f"unknown parameter type `{p.type}`", p.span,
                             expected=", ".join(SCALAR_TYPES), help=did_you_mean(p.type, SCALAR_TYPES))
        if want and (not isinstance(v, want) or (isinstance(v, bool) and bool not in want)):
            if isinstance(v, Quotient):
                raise self._inexact(v, span or p.span, f"parameter `{p.name}`")
            raise self.error("E205", f"parameter `{p.name}` is {p.type}, got {kind_of(v)}",
                             span or p.span, expected=p.type, got=show(v))
        return v

    def _bind_pattern(self, port: ast.Param, v: TensorVal) -> None:
        pat: ast.TensorTypeExpr = port.type
        if pat.dtype and pat.dtype != v.type.dtype:
            raise self.error("E306", f"`{port.name}` must be {pat.dtype}, got {v.type.dtype}",
                             port.span, expected=pat.dtype, got=str(v.type),
                             notes=[(v.origin, "the tensor comes from here")] if v.origin else [])
        at, shape = pat.ellipsis, v.type.shape
        named = len(pat.dims) - (at is not None)
        if v.type.rank != named and (at is None or v.type.rank < named):
            rank = f"rank {named}" if at is None else f"rank {named} or more"
            what = f"a rank-{named} tensor" if at is None else f"a tensor of rank {named} or more"
            raise self.error("E301", f"`{port.name}` expects {what} "
                             f"{_pattern_text(pat)}, got {fmt_shape(shape)}", port.span,
                             expected=rank, got=f"rank {v.type.rank}",
                             notes=[(v.origin, "the tensor comes from here")] if v.origin else [])
        if at is not None:      # `...` takes the axes its neighbours leave, none or more
            pairs = list(zip(pat.dims[:at], shape)) + \
                list(zip(pat.dims[at + 1:], shape[len(shape) - (named - at):]))
        else:
            pairs = list(zip(pat.dims, shape))
        for d, actual in pairs:
            if isinstance(d, ast.Name) and d.id == "_":
                continue
            if isinstance(d, ast.Name) and d.id not in self.scope.vars:
                self.scope.vars[d.id] = _norm(actual)
                continue
            want = _norm(self.eval(d))
            if isinstance(want, Quotient):
                raise self._inexact(want, d.span, "a size")
            if isinstance(want, bool) or not isinstance(want, (int, Dim)):
                raise self.error("E205", f"the size `{_text(d)}` in the pattern of `{port.name}` is "
                                 f"{kind_of(want)}, not a size", d.span, expected="a size",
                                 got=kind_of(want), help="a port and a size share a name: "
                                 "rename one" if isinstance(want, TensorVal) else None)
            if Dim.of(want) != actual:
                raise self.error("E302", f"`{port.name}` expects size {want} where the input has "
                                 f"{actual}", d.span, expected=str(want), got=str(actual),
                                 notes=[(v.origin, "the tensor comes from here")] if v.origin else [])


def _text(d) -> str:
    return d.id if isinstance(d, ast.Name) else "..." if isinstance(d, ast.EllipsisDim) else "…"


def _pattern_text(p: ast.TensorTypeExpr) -> str:
    return "[" + ", ".join(_text(d) for d in p.dims) + "]"
