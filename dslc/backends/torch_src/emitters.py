"""Per-node code for `--target torch-src`: each emitter reads the interpreter's module for the
node (built on the meta device, so no weights are allocated) and writes the same computation
as source: a functional call for a module without state, a submodule with the same parameter
and buffer names otherwise (`nn.Linear(64, 10)`, or a helper of runtime.py).

An emitter takes (module, ctx) and calls ctx.init(expr) for a submodule, ctx.set(expr) to
assign the node's outputs, ctx.line(stmt) for statements before that; ctx.ins are the input
expressions, ctx.attr the submodule's expression (`self.layer1[0].conv2d_1`)."""
from __future__ import annotations

import operator
import re

from ...ops.base import Unsupported

_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
           "i8": "int8", "i32": "int32", "i64": "int64", "u8": "uint8", "bool": "bool"}


def dtype_expr(dtype: str) -> str:
    """`torch.float16` for the IR dtype f16."""
    return f"torch.{_DTYPES[dtype]}"


def lit(v) -> str:
    """A Python literal (tuples as lists, which TorchScript takes for int[] arguments)."""
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def _call(fn: str, *args, **kwargs) -> str:
    parts = [str(a) for a in args] + [f"{k}={lit(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"


# ---- modules without state: one expression each ----
def _unary(fn):
    return lambda m, c: c.set(f"{fn}({c.ins[0]})")


_SIMPLE = {"ReLU": _unary("torch.relu"), "ReLU6": _unary("F.relu6"), "SELU": _unary("torch.selu"),
           "Sigmoid": _unary("torch.sigmoid"), "Tanh": _unary("torch.tanh")}


def _gelu(m, c):
    c.set(_call("F.gelu", c.ins[0], **({"approximate": m.approximate}
                                       if m.approximate != "none" else {})))


def _softmax(m, c):
    fn = "torch.softmax" if type(m).__name__ == "Softmax" else "torch.log_softmax"
    c.set(_call(fn, c.ins[0], dim=m.dim))


def _dropout(m, c):
    c.set(f"F.dropout({c.ins[0]}, {lit(m.p)}, self.training)")


def _pool(m, c):
    name = type(m).__name__            # MaxPool2d, AvgPool1d, AdaptiveAvgPool3d, ...
    fn = "F." + re.sub(r"(?<!^)([A-Z])", r"_\1", name[:-2]).lower() + name[-2:]
    if name.startswith("Adaptive"):
        c.set(_call(fn, c.ins[0], lit(m.output_size)))
    elif name.startswith("Max"):
        c.set(_call(fn, c.ins[0], lit(m.kernel_size), lit(m.stride), lit(m.padding),
                    lit(m.dilation), ceil_mode=m.ceil_mode))
    else:
        c.set(_call(fn, c.ins[0], lit(m.kernel_size), lit(m.stride), lit(m.padding),
                    ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad))


def _upsample(m, c):
    kw = {"size": m.size} if m.size is not None else {"scale_factor": m.scale_factor}
    kw["mode"] = m.mode
    if m.align_corners is not None:
        kw["align_corners"] = m.align_corners
    if isinstance(kw.get("scale_factor"), (int, float)):
        kw["scale_factor"] = float(kw["scale_factor"])
    elif "scale_factor" in kw:
        kw["scale_factor"] = [float(s) for s in kw["scale_factor"]]
    c.set(_call("F.interpolate", c.ins[0], **kw))


_OPERATORS = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
              operator.pow: "**", operator.eq: "==", operator.ne: "!=", operator.lt: "<",
              operator.le: "<=", operator.gt: ">", operator.ge: ">=", operator.and_: "&",
              operator.or_: "|"}


def _elementwise2(m, c):
    if m.fn is operator.neg:
        return c.set(f"-{c.ins[0]}")
    if m.fn is operator.invert:
        return c.set(f"~{c.ins[0]}")
    sym = _OPERATORS[m.fn]
    if m.scalar is None:
        return c.set(f"{c.ins[0]} {sym} {c.ins[1]}")
    a, b = (lit(m.scalar), c.ins[0]) if m.reverse else (c.ins[0], lit(m.scalar))
    c.set(f"{a} {sym} {b}")


def _where(m, c):
    other = c.ins[2] if len(c.ins) > 2 else lit(m.other)
    c.set(f"torch.where({c.ins[0]}, {c.ins[1]}, {other})")


def _function(m, c):
    fn = "F." + m.path[len("nn.functional."):] if m.path.startswith("nn.functional.") \
        else f"torch.{m.path}"
    c.set(f"{fn}({c.ins[0]})")


def _clamp(m, c):
    kw = {k: v for k, v in (("min", m.min), ("max", m.max)) if v is not None}
    c.set(_call("torch.clamp", c.ins[0], **kw))


def _concat(m, c):
    c.set(f"torch.cat([{', '.join(c.ins)}], dim={m.axis})")


def _split(m, c):
    c.set(f"torch.chunk({c.ins[0]}, {m.parts}, dim={m.axis})")


def _reshape(m, c, x=None):
    x = x or c.ins[0]
    sizes = [f"{x}.shape[{p[1]}]" if isinstance(p, tuple) else str(p) for p in m.plan]
    return f"{x}.reshape([{', '.join(sizes)}])"


def _global_pool(m, c):
    axes = list(range(2, c.node.in_types[0].rank))
    fn = "mean" if m.reduce == "mean" else "amax"
    c.set(f"{c.ins[0]}.{fn}(dim={lit(axes)}, keepdim=True)")


def _reduce(m, c, x=None):
    x = x or c.ins[0]
    if m.to_i64:
        x = f"{x}.to(torch.int64)"
    if m.name == "prod":
        for a in reversed(m.axes):
            x = f"torch.prod({x}, dim={a}, keepdim={m.keepdim})"
        return x
    if not m.axes:
        return x
    return f"torch.{m.name}({x}, dim={lit(list(m.axes))}, keepdim={m.keepdim})"


def _variance(m, c):
    fn = "torch.std" if m.sqrt else "torch.var"
    c.set(_call(fn, c.ins[0], dim=list(m.axes), correction=m.correction, keepdim=m.keepdim))


def _vector_norm(m, c):
    c.set(_call("torch.linalg.vector_norm", c.ins[0], ord=float(m.p),
                dim=list(m.axes) or None, keepdim=m.keepdim))


def _arg_reduce(m, c):
    c.set(_call(f"torch.{m.kind}", c.ins[0], dim=m.axis, keepdim=m.keepdim))


def _shaping(m, c):
    if m.fn == "stack":
        c.set(_call("torch.stack", f"[{', '.join(c.ins)}]", *[lit(a) for a in m.args], **m.kwargs))
        return
    args = [lit(a) for a in m.args]
    if m.sizes is not None:
        args.insert(0, "[" + ", ".join(c.dim(d) for d in m.sizes) + "]")
    c.set(_call(f"{c.ins[0]}.{m.fn}", *args, **m.kwargs))


def _bound(spec, c, axis: int) -> str:
    kind, v = spec
    if kind == "const":
        return lit(v)
    if kind == "rel":
        return f"{c.ins[0]}.shape[{axis}] + {v}" if v else f"{c.ins[0]}.shape[{axis}]"
    return c.dim(v)


def _slice(m, c):
    lo, hi = _bound(m.start, c, m.axis), _bound(m.end, c, m.axis)
    step = f":{m.step}" if m.step != 1 else ""
    c.set(f"{c.ins[0]}[{':, ' * m.axis}{lo}:{hi}{step}]")


def _topk(m, c):
    c.set(_call("torch.topk", c.ins[0], _bound(m.k, c, m.axis), dim=m.axis, largest=m.largest,
                sorted=True))


def _dtype_name(t) -> str:
    return str(t).replace("torch.", "")


def _one_hot(m, c):
    c.set(f"F.one_hot({c.ins[0]}.long(), {m.num_classes}).to(torch.{_dtype_name(m.dtype)})")


def _cast(m, c):
    c.set(f"{c.ins[0]}.to(torch.{_dtype_name(m.dtype)})")


def _noise(m, c):
    """randn_like / rand_like / bernoulli. Training mode draws from torch's global generator
    (the interpreter's per-layer seeded generator does not script); eval mode is the mean."""
    x = c.ins[0]
    if len(c.ins) > 1:
        return c.set(f"({c.ins[1]} < {x}).to({x}.dtype)" if m.kind == "bernoulli" else c.ins[1])
    train, mean = {"randn_like": (f"torch.randn_like({x})", f"torch.zeros_like({x})"),
                   "rand_like": (f"torch.rand_like({x})", f"torch.full_like({x}, 0.5)"),
                   "bernoulli": (f"torch.bernoulli({x})", x)}[m.kind]
    c.set(f"{train} if self.training else {mean}")


def _phase_shuffle(m, c):
    c.helper("reflect_index")
    c.helper("phase_shuffle")
    c.set(f"phase_shuffle({c.ins[0]}, {m.n}, self.training)")


def _sequential(m, c):
    """maxout's Sequential(Reshape, Reduce): one nested expression."""
    x = c.ins[0]
    for child in m:
        name = type(child).__name__
        if name == "Reshape":
            x = _reshape(child, c, x)
        elif name == "Reduce":
            x = _reduce(child, c, x)
        else:
            raise Unsupported(f"no source form for {name} in a sequence")
    c.set(x)


# ---- modules with parameters or buffers ----
def _init(m, c, expr: str):
    if c.tied:
        raise Unsupported(f"a tied {type(m).__name__} has no source form")
    c.init(expr)
    c.set(f"{c.attr}({', '.join(c.ins)})")


def _linear(m, c):
    if c.tied:
        c.own_params()
        bias = c.param("bias") if m.bias is not None else "None"
        return c.set(f"F.linear({c.ins[0]}, {c.param('weight')}, {bias})")
    _init(m, c, _call("nn.Linear", m.in_features, m.out_features,
                      **({} if m.bias is not None else {"bias": False})))


def _transposed_linear(m, c):
    if c.tied:
        c.own_params()
        bias = c.param("bias") if m.bias is not None else "None"
        return c.set(f"F.linear({c.ins[0]}, {c.param('weight')}.t(), {bias})")
    c.helper("TransposedLinear")
    w = m.weight.shape
    _init(m, c, _call("TransposedLinear", w[0], w[1], m.bias is not None))


def _flat_pads(pads) -> list[int]:
    out: list[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


def _conv(m, c):
    """ConvNd: nn.Conv{n}d with torch's own padding where it is symmetric, else F.pad first
    (fixed pads, or `same` from the run-time size)."""
    cout, cin_g = m.weight.shape[0], m.weight.shape[1]
    x = c.ins[0]
    runtime = None in m.pads
    symmetric = not runtime and all(b == e for b, e in m.pads)
    kw = {k: list(v) for k, v in (("stride", m.ss), ("dilation", m.ds)) if any(x != 1 for x in v)}
    if m.groups != 1:
        kw["groups"] = m.groups
    if m.bias is None:
        kw["bias"] = False
    if symmetric and m.mode in ("constant", "reflect", "replicate", "circular"):
        if any(b for b, _ in m.pads):
            kw["padding"] = [b for b, _ in m.pads]
        if m.mode != "constant":
            kw["padding_mode"] = m.mode
    elif runtime:
        c.helper("same_pads")
        pads = f"same_pads({x}, {lit(list(m.ks))}, {lit(list(m.ss))}, {lit(list(m.ds))})"
        x = f"F.pad({x}, {pads}, mode={m.mode!r})"
    else:
        x = f"F.pad({x}, {lit(_flat_pads(m.pads))}, mode={m.mode!r})"
    if c.tied:
        if "padding_mode" in kw:
            raise Unsupported("a tied convolution with a padding mode has no source form")
        c.own_params()
        bias = c.param("bias") if m.bias is not None else "None"
        return c.set(f"F.conv{m.n}d({x}, {c.param('weight')}, {bias}, {lit(list(m.ss))}, "
                     f"{lit(kw.get('padding', [0] * m.n))}, {lit(list(m.ds))}, {m.groups})")
    c.init(_call(f"nn.Conv{m.n}d", cin_g * m.groups, cout, lit(list(m.ks)), **kw))
    c.set(f"{c.attr}({x})")


def _conv_transpose(m, c):
    kw = {"stride": list(m.stride), "padding": list(m.padding),
          "output_padding": list(m.output_padding), "dilation": list(m.dilation)}
    if m.groups != 1:
        kw["groups"] = m.groups
    if m.bias is None:
        kw["bias"] = False
    _init(m, c, _call(type(m).__name__.join(("nn.", "")), m.in_channels, m.out_channels,
                      lit(list(m.kernel_size)), **kw))


def _batchnorm(m, c):
    kw = {"eps": m.eps, "momentum": m.momentum}
    if not m.affine:
        kw["affine"] = False
    if not m.track_running_stats:
        kw["track_running_stats"] = False
    _init(m, c, _call(f"nn.{type(m).__name__}", m.num_features, **kw))


def _layernorm(m, c):
    kw = {"eps": m.eps}
    if not m.elementwise_affine:
        kw["elementwise_affine"] = False
    elif m.bias is None:
        kw["bias"] = False
    _init(m, c, _call("nn.LayerNorm", lit(list(m.normalized_shape)), **kw))


def _embedding(m, c):
    if c.tied:
        c.own_params()
        return c.set(f"F.embedding({c.ins[0]}, {c.param('weight')}"
                     + (f", {m.padding_idx})" if m.padding_idx is not None else ")"))
    kw = {"padding_idx": m.padding_idx} if m.padding_idx is not None else {}
    _init(m, c, _call("nn.Embedding", m.num_embeddings, m.embedding_dim, **kw))


def _prelu(m, c):
    _init(m, c, _call("nn.PReLU", m.num_parameters))


def _free_param(m, c):
    c.helper("Param")
    _init(m, c, _call("Param", lit(list(m.weight.shape))))


def _class_token(m, c):
    c.helper("ClassToken")
    _init(m, c, _call("ClassToken", m.weight.shape[-1]))


def _positional(m, c):
    d = c.node.in_types[0].shape[2].value
    if hasattr(m, "weight"):
        c.helper("LearnedPositions")
        return _init(m, c, _call("LearnedPositions", m.weight.shape[0], d))
    c.helper("SinusoidalPositions")
    _init(m, c, _call("SinusoidalPositions", m.table.shape[0], d,
                      dtype_expr(c.node.in_types[0].dtype)))


def _attention(m, c):
    c.helper("rotate_half")
    c.helper("rope")
    c.helper("Attention")
    bias = m.in_proj_bias is not None
    if hasattr(m, "in_proj_weight"):
        kd = vd = m.e
    else:
        kd, vd = m.k_proj_weight.shape[1], m.v_proj_weight.shape[1]
    c.init(_call("Attention", m.e, m.heads, m.kv_heads, m.ekv, kd, vd, bias, m.causal,
                 m.rotary, float(m.base), float(m.dropout)))
    if c.tied:
        raise Unsupported("a tied attention has no source form")
    xs = c.ins[:m.n_tensors]
    q, k, v = (xs[0],) * 3 if len(xs) == 1 else ((xs[0], xs[1], xs[1]) if len(xs) == 2 else xs)
    mask = c.ins[m.n_tensors:]
    c.set(f"{c.attr}({', '.join((q, k, v, *mask))})")


def _sdpa(m, c):
    c.set(_call("F.scaled_dot_product_attention", *c.ins, is_causal=m.causal, scale=m.scale))


def _recurrent(m, c):
    """RNNNode / GRUNode / LSTMNode: the nn.RNN/GRU/LSTM itself (parameters at the node:
    `lstm_1.weight_ih_l0`); initial states, lengths (packed), last step and states written
    out as statements."""
    base = type(m).__name__[:-len("Node")]
    kw = {"num_layers": m.num_layers, "batch_first": True}
    if not m.bias:
        kw["bias"] = False
    if m.dropout:
        kw["dropout"] = m.dropout
    if m.bidirectional:
        kw["bidirectional"] = True
    if base == "RNN" and m.nonlinearity != "tanh":
        kw["nonlinearity"] = m.nonlinearity
    _init(m, c, _call(f"nn.{base}", m.input_size, m.hidden_size, **kw))
    x, extra = c.ins[0], c.ins[1:]
    initial = extra[:m.n_initial]
    lengths = extra[m.n_initial] if m.has_lengths else None
    hx = "" if not initial else (", " + initial[0] if len(initial) == 1
                                 else f", ({', '.join(initial)})")
    out, h = c.temp("out"), c.temp("h")
    cell = c.temp("c") if base == "LSTM" else None
    states = f"({h}, {cell})" if cell else h
    if lengths is None:
        c.line(f"{out}, {states} = {c.attr}({x}{hx})")
    else:
        packed = c.temp("packed")
        c.line(f"{packed} = nn.utils.rnn.pack_padded_sequence({x}, {lengths}.cpu().long(), "
               f"batch_first=True, enforce_sorted=False)")
        c.line(f"{packed}, {states} = {c.attr}({packed}{hx})")
        c.line(f"{out}, _ = nn.utils.rnn.pad_packed_sequence({packed}, batch_first=True, "
               f"total_length={x}.shape[1])")
    first = f"{h}[-{m.n_dirs}:].permute(1, 0, 2).reshape({x}.shape[0], -1)" if m.last else out
    results = [first] + (([h, cell] if cell else [h]) if m.return_state else [])
    c.set(", ".join(results))


def _loop_recurrent(m, c):
    """gru(reset=before) / lstm(peephole=true): the parameters in a Weights module at the
    node, one loop_direction call per layer and direction."""
    if c.tied:
        raise Unsupported("a tied recurrent layer has no source form")
    c.helper("Weights")
    c.helper("_plus")
    c.helper("loop_direction")
    c.init("Weights(" + ", ".join(f"{k}={list(p.shape)}" for k, p in m.named_parameters()) + ")")
    x, extra = c.ins[0], c.ins[1:]
    initial = extra[:m.n_initial]
    lengths = extra[m.n_initial] if m.has_lengths else None
    mask, h0 = c.temp("mask"), c.temp("h0")
    steps = f"torch.arange({x}.shape[1], device={x}.device)[None, :]"
    c.line(f"{mask} = ({steps} < {lengths}[:, None]).to({x}.dtype)" if lengths is not None else
           f"{mask} = torch.ones({x}.shape[0], {x}.shape[1], dtype={x}.dtype, device={x}.device)")
    zeros = f"{x}.new_zeros({m.layers * m.n_dirs}, {x}.shape[0], {m.hidden})"
    c.line(f"{h0} = {initial[0] if initial else zeros}")
    c0 = h0
    if m.kind == "lstm":
        c0 = c.temp("c0")
        c.line(f"{c0} = {initial[1] if initial else zeros}")
    inp, hs, cs = x, [], []
    for layer in range(m.layers):
        outs = []
        for d, sfx in enumerate([""] + (["_reverse"] if m.n_dirs == 2 else [])):
            j, k = layer * m.n_dirs + d, f"l{layer}{sfx}"
            o, h, cc = c.temp(f"out_{k}"), c.temp(f"h_{k}"), c.temp(f"c_{k}")
            p = {n: (f"{c.attr}.{n}" if hasattr(m, n) else "None")
                 for n in (f"weight_ih_{k}", f"weight_hh_{k}", f"bias_ih_{k}", f"bias_hh_{k}",
                           f"weight_ph_{k}")}
            c.line(f"{o}, {h}, {cc} = loop_direction({m.kind!r}, {inp}, {h0}[{j}], {c0}[{j}], "
                   + ", ".join(p.values()) + f", {d == 1}, {mask})")
            outs.append(o)
            hs.append(h)
            cs.append(cc)
        inp = outs[0] if len(outs) == 1 else f"torch.cat([{', '.join(outs)}], dim=2)"
        if layer < m.layers - 1:
            nxt = c.temp(f"in_l{layer + 1}")
            c.line(f"{nxt} = {inp}")
            inp = nxt
    h_all = f"torch.stack([{', '.join(hs)}])"
    first = f"{h_all}[-{m.n_dirs}:].permute(1, 0, 2).reshape({x}.shape[0], -1)" if m.last else inp
    states = [h_all] + ([f"torch.stack([{', '.join(cs)}])"] if m.kind == "lstm" else [])
    c.set(", ".join([first] + (states if m.return_state else [])))


def _scan(m, c):
    c.init(c.scan_class() + "()")
    c.set(f"{c.attr}({', '.join(c.ins)})")


EMITTERS = {
    **_SIMPLE, "GELU": _gelu, "Softmax": _softmax, "LogSoftmax": _softmax, "Dropout": _dropout,
    "ELU": lambda m, c: c.set(_call("F.elu", c.ins[0], m.alpha)),
    "LeakyReLU": lambda m, c: c.set(_call("F.leaky_relu", c.ins[0], m.negative_slope)),
    "Hardtanh": lambda m, c: c.set(_call("F.hardtanh", c.ins[0], m.min_val, m.max_val)),
    "Softplus": lambda m, c: c.set(_call("F.softplus", c.ins[0], m.beta, m.threshold)),
    "Step": lambda m, c: c.set(f"({c.ins[0]} >= 0).to({c.ins[0]}.dtype)"),
    "ChannelShuffle": lambda m, c: c.set(_call("F.channel_shuffle", c.ins[0], m.groups)),
    "Upsample": _upsample, "Elementwise2": _elementwise2, "WhereModule": _where,
    "Function": _function, "Clamp": _clamp, "Cast": _cast, "Concat": _concat, "Split": _split,
    "Reshape": lambda m, c: c.set(_reshape(m, c)),
    "Permute": lambda m, c: c.set(f"{c.ins[0]}.permute({', '.join(map(str, m.perm))})"),
    "PadModule": lambda m, c: c.set(
        _call("F.pad", c.ins[0], lit(m.pads), mode=m.mode,
              **({"value": float(m.value)} if m.mode == "constant" else {}))),
    "GlobalPool": _global_pool, "Reduce": lambda m, c: c.set(_reduce(m, c)),
    "Variance": _variance, "VectorNorm": _vector_norm, "ArgReduce": _arg_reduce,
    "Shaping": _shaping,
    "MatMul": lambda m, c: c.set(f"torch.matmul({c.ins[0]}, {c.ins[1]})"),
    "Einsum": lambda m, c: c.set(f"torch.einsum({m.equation!r}, [{', '.join(c.ins)}])"),
    "Gather": lambda m, c: c.set(f"torch.gather({c.ins[0]}, {m.axis}, {c.ins[1]}.long())"),
    "IndexSelect": lambda m, c: c.set(
        f"torch.index_select({c.ins[0]}, {m.axis}, {c.ins[1]}.long())"),
    "Slice": _slice, "TopK": _topk, "OneHot": _one_hot,
    "CumSum": lambda m, c: c.set(f"torch.cumsum({c.ins[0]}, {m.axis}, dtype={c.ins[0]}.dtype)"),
    "SDPAModule": _sdpa,
    "SelectModule": lambda m, c: c.set(f"{c.ins[0]}.select({m.axis}, {m.index})"),
    "Noise": _noise, "PhaseShuffle": _phase_shuffle, "Sequential": _sequential,
    "Linear": _linear, "TransposedLinear": _transposed_linear, "ConvNd": _conv,
    "ConvTranspose1d": _conv_transpose, "ConvTranspose2d": _conv_transpose,
    "ConvTranspose3d": _conv_transpose, "BatchNorm1d": _batchnorm, "BatchNorm2d": _batchnorm,
    "BatchNorm3d": _batchnorm, "LayerNorm": _layernorm, "Embedding": _embedding,
    "PReLU": _prelu, "FreeParam": _free_param, "ClassTokenModule": _class_token,
    "PositionalModule": _positional, "AttentionModule": _attention, "RNNNode": _recurrent,
    "GRUNode": _recurrent, "LSTMNode": _recurrent, "ScanModule": _scan,
    "LoopRecurrent": _loop_recurrent,
}
for _name in ("MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool"):
    for _n in (1, 2, 3):
        EMITTERS[f"{_name}{_n}d"] = _pool


def emit(module, ctx) -> None:
    """Write the node's code through ctx; Unsupported when the module has no source form."""
    name = type(module).__name__
    if name not in EMITTERS:
        raise Unsupported(f"torch-src has no source form for the interpreter's {name}")
    EMITTERS[name](module, ctx)
