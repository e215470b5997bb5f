"""IR -> a torch nn.Module. Each node's module sits at the node's dotted name, so state_dict
keys are the spec's names (`block1.conv2.weight`) and equal the ONNX initializer names."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...checks.guards import InputError, bind, check_values, signature
from ...ir.core import FLOAT_DTYPES, frozen_param_names
from ...passes.weights import check_weights
from ...ops.base import Unsupported
from .. import BackendError, unsupported
from .table import lower

_TORCH_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
                 "i8": "int8", "i32": "int32", "i64": "int64", "u8": "uint8", "bool": "bool"}


def torch_dtype(dtype: str) -> torch.dtype:
    """The torch dtype of an IR dtype."""
    return getattr(torch, _TORCH_DTYPES[dtype])


class InF32(nn.Module):
    """Runs a precise op's module (Op.precise) in float32 on half-precision tensors: floating
    inputs cast to float32, floating outputs cast back to their IR dtypes. The wrapped module
    stays registered at the node's own name (state_dict keys unchanged); this wrapper lives
    only in the run plan and registers nothing."""

    def __init__(self, module: nn.Module, out_dtypes):
        super().__init__()
        object.__setattr__(self, "inner", module)     # not a child: no prefix, no second copy
        self.out_dtypes = [torch_dtype(d) if d in FLOAT_DTYPES else None for d in out_dtypes]

    def forward(self, *xs):
        res = self.inner(*[x.float() if x.is_floating_point() else x for x in xs])
        many = isinstance(res, tuple)
        res = tuple(r.to(d) if d is not None and r.is_floating_point() else r
                    for r, d in zip(res if many else (res,), self.out_dtypes))
        return res if many else res[0]


def _place(root: nn.Module, path: str, module: nn.Module) -> None:
    *parents, leaf = path.split(".")
    cur = root
    for p in parents:
        if not hasattr(cur, p):
            cur.add_module(p, nn.Module())
        cur = getattr(cur, p)
    cur.add_module(leaf, module)


class DslcModule(nn.Module):
    """Runs the model's nodes in order. forward(*inputs in declaration order) returns the
    outputs in declaration order: one tensor, or a tuple. `strip` drops a prefix from the node
    names (a scan body sits under its scan node).

    Each node's module is cast to the node's param_dtype (its parameters and buffers in the
    model's precision); a precise op on half-precision tensors runs in float32 (InF32).

    forward first checks its inputs against the spec (dslc.checks.guards: ranks, dtypes, fixed sizes,
    one value per symbol, `where` constraints) and raises dslc.checks.guards.InputError, a
    ValueError listing each problem; `module.check_inputs = False` turns the check off."""

    def __init__(self, model, strip: str = ""):
        super().__init__()
        self.spec_name = model.name
        self._signature = signature(model)
        # forward checks its inputs (dslc.checks.guards); `module.check_inputs = False` skips it. A
        # scan's body (`strip` given) runs on tensors its scan module has already checked.
        self.check_inputs = not strip
        self.input_names = [p.name for p in model.inputs]
        self.output_names = [p.name for p in model.outputs]
        self._outputs = [p.value for p in model.outputs]
        self._plan: list = []
        problems = []
        for n in model.nodes:
            try:
                mod = lower(n.op, n)
            except Unsupported as e:
                problems.append(unsupported(n, "torch", str(e)))
                continue
            if not n.op.regions:   # a scan's body nodes are cast inside it
                mod = mod.to(torch_dtype(n.param_dtype))
            _place(self, n.name[len(strip):], mod)
            run = InF32(mod, [t.dtype for t in n.out_types]) if n.upcast else mod
            self._plan.append((n.inputs, n.outputs, run))
        if problems:
            raise BackendError(problems, model.sources)

    def forward(self, *args):
        if len(args) != len(self.input_names):
            raise TypeError(f"{self.spec_name} takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}), got {len(args)}")
        if self.check_inputs:
            self._check(args)
        env = dict(zip(self.input_names, args))
        for ins, outs, mod in self._plan:
            res = mod(*[env[i] for i in ins])
            if len(outs) == 1:
                env[outs[0]] = res
            else:
                env.update(zip(outs, res))
        res = [env[v] for v in self._outputs]
        return res[0] if len(res) == 1 else tuple(res)


    def _check(self, args) -> None:
        """Each input's rank, dtype, fixed sizes, symbols and `where` constraints, by the rule
        of dslc.checks.guards (InputError, a ValueError, lists what does not fit)."""
        not_tensors = [f"input `{n}` is a {type(x).__name__}, not a tensor"
                       for n, x in zip(self.input_names, args) if not isinstance(x, torch.Tensor)]
        if not_tensors:
            raise InputError(self.spec_name, not_tensors)
        env = bind(self._signature, {n: tuple(x.shape) for n, x in zip(self.input_names, args)},
                   {n: _IR_DTYPES.get(x.dtype, str(x.dtype)) for n, x in zip(self.input_names, args)})
        check_values(self._signature, dict(zip(self.input_names, args)), env)


_IR_DTYPES = {torch_dtype(k): k for k in _TORCH_DTYPES}


def load_weights(module: nn.Module, model, weights: dict) -> None:
    """Copy `weights` into the module after checking them against the IR (check_weights:
    WeightsError lists every missing, extra, mis-shaped or non-float tensor). torch's BatchNorm
    step counters, when given, are copied too."""
    check_weights(model, weights)
    state = module.state_dict()
    expected = {**model.param_shapes(), **model.buffer_shapes()}
    expected.update({k: () for k in weights if k not in expected and k in state})
    with torch.no_grad():
        for k in expected:
            src = weights[k]
            src = src.detach() if isinstance(src, torch.Tensor) else torch.from_numpy(_plain(src))
            state[k].copy_(src.reshape(state[k].shape).to(state[k].dtype))


def _plain(a) -> np.ndarray:
    """A numpy array torch can take (ml_dtypes' bfloat16 goes through float32)."""
    a = np.asarray(a)
    return a.astype(np.float32) if a.dtype.name == "bfloat16" else a


def _tie(module: nn.Module, model) -> None:
    """A tied node uses its owner's Parameter objects: not registered twice, so parameters()
    and the state_dict hold each tensor once, and gradients reach the one tensor."""
    for n in model.nodes:
        for local in n.op.params(*n.in_types):
            if n.owner_of(local) == n.name:
                continue
            owner = module.get_submodule(n.owner_of(local))
            *path, leaf = local.split(".")
            target = module.get_submodule(".".join([n.name, *path]))
            del target._parameters[leaf]
            object.__setattr__(target, leaf, owner.get_parameter(local))


def build_module(model, weights: dict) -> DslcModule:
    module = DslcModule(model)
    _tie(module, model)
    load_weights(module, model, weights)
    frozen = frozen_param_names(model)          # full names, scan bodies included
    for name, p in module.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    return module
