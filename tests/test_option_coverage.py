"""No silent options: every field of every op (op.model_fields, over dslc.ops.all_ops()) must
reach a lowering. For each (op, field) a one-layer model is built with the field at its default
(or at the base row's value, for required fields) and at a different value; the two must differ
in BOTH backends: the ONNX graph (nodes with their attributes, value names canonicalised;
initializer shapes and values; output types) and the torch module (outputs on a fixed input in
eval and in train mode under a fixed seed, the state_dict's shapes and values after the train
step). A backend may instead reject the value with an E401 (dslc.ops.base.Unsupported), and the
value may be rejected outright by a located diagnostic (check_text(...).errors with a span).

Alternatives come from the field's annotation and value (bool: flip; int: +1; float: * 0.5 +
0.25; Literal: every other member); OVERRIDES gives the others (None defaults, tuples, strings)
and, where a field only acts together with another, an extra base argument.
Training-only fields (dropout, momentum, phase shuffle) are compared in torch's train mode only
(fixed seed); the ONNX graph is an inference graph. NEUTRAL lists values equal by definition
(a commutative op's reverse, an alias), KNOWN_SILENT the options found silent; both are asserted
exactly, so a change in them fails the test.
"""
from __future__ import annotations

import re

import pytest

import dslc
from dslc.backends import BackendError
from dslc.ops import all_ops
from support import make_inputs, random_weights
from test_ops_table import ROWS

_UNDEF = type(all_ops()[0].model_fields["out_features"].default)   # PydanticUndefinedType


def _row_shape(kind):
    """The input shape of test_ops_table's first row for `kind`."""
    for snippet, shape, _ in ROWS:
        if re.match(r"\w+", snippet).group(0) == kind:
            return shape
    return None


# kind -> (required/base keyword arguments in spec syntax, input shape or None: the op-table
# row's shape, input dtype). Fields in the base arguments vary from the base's value.
_CONV = "out_channels=4, kernel_size=3, padding=1"
_TCONV = "out_channels=4, kernel_size=3, stride=2"
BASE = {
    "dense": ("out_features=5", None, "f32"),
    "leaky_relu": ("", (2, 6), "f32"),
    "prelu": ("", (2, 3, 4), "f32"),
    "elu": ("", (2, 6), "f32"),
    "gelu": ("", (2, 6), "f32"),
    "hardtanh": ("", (2, 6), "f32"),
    "softplus": ("", (2, 6), "f32"),
    "softmax": ("", None, "f32"),
    "log_softmax": ("", (2, 6, 3), "f32"),
    "maxout": ("k=3", None, "f32"),
    **{k: ("scalar=1.5", (2, 6), "f32") for k in ("add", "sub", "mul", "div", "pow", "lt",
                                                   "le", "gt", "ge")},
    # integer inputs: x == 1.5 and x == 1.0 are both all-false on normal inputs
    **{k: ("scalar=3", (2, 6), "i64") for k in ("eq", "ne")},
    "clamp": ("max=2.0", (2, 6), "f32"),
    "cast": ("dtype=f64", (2, 6), "f32"),
    **{k: ("", (2, 3, 4), "f32") for k in ("sum", "mean", "max", "min", "prod", "var", "std",
                                          "logsumexp", "argmax", "argmin", "norm")},
    "slice": ("start=0, end=3, axis=1", (2, 6, 6), "f32"),
    "topk": ("k=2", (2, 6), "f32", {"outs": "v, i"}),
    "where": ("", (2, 6), "f32", {"inputs": ["c: bool[2, 6]"], "expr": "(c, x, x) -> {call}"}),
    "einsum": ('equation="ij->ji"', (2, 6), "f32"),
    "gather": ("axis=0", (10, 10), "f32", {"inputs": ["i: i64[3, 4]"],
                                            "expr": "(x, i) -> {call}"}),
    # a rank-1 integer input is drawn as lengths 1..10 by support.make_inputs: 11 rows
    "index_select": ("axis=0", (11, 11), "f32", {"inputs": ["i: i64[3]"],
                                                  "expr": "(x, i) -> {call}"}),
    "stack": ("", (2, 3), "f32", {"expr": "(x, x) -> {call}"}),
    "concat": ("", (2, 3, 4), "f32", {"expr": "(x, x) -> {call}"}),
    "split": ("parts=2", (2, 6, 4), "f32", {"outs": "a, b"}),
    "param": ("size=(3, 4)", (2, 3), "f32", {"expr": "{call}"}),
    "randn_like": ("", (2, 6), "f32"),
    "rand_like": ("", (2, 6), "f32"),
    # probabilities in [0, 1]
    "bernoulli": ("", (2, 6), "f32", {"expr": "x -> sigmoid -> {call}"}),
    "sdpa": ("", (2, 4, 8), "f32", {"expr": "(x, x, x) -> {call}"}),
    "one_hot": ("num_classes=10", (2, 3), "i64"),
    "cumsum": ("axis=1", (2, 3, 4), "f32"),
    "expand": ("sizes=(4, 2, 3)", None, "f32"),
    "unsqueeze": ("axis=1", None, "f32"),
    "squeeze": ("", (2, 1, 3, 1), "f32"),     # None squeezes both ones, axis=1 only the first
    "repeat_interleave": ("repeats=2", None, "f32"),
    "tile": ("reps=(2, 1, 3)", None, "f32"),
    "phase_shuffle": ("", (2, 3, 16), "f32"),
    **{k: (_CONV, (2, 2, 10), "f32") for k in ("conv1d",)},
    **{k: (_CONV, (1, 2, 6, 6), "f32") for k in ("conv2d",)},
    **{k: (_CONV, (1, 2, 5, 5, 5), "f32") for k in ("conv3d",)},
    "conv_transpose1d": (_TCONV, (1, 2, 5), "f32"),
    "conv_transpose2d": (_TCONV, (1, 2, 5, 5), "f32"),
    "conv_transpose3d": (_TCONV, (1, 2, 3, 3, 3), "f32"),
    "maxpool": ("kernel_size=2", (1, 2, 7, 7), "f32"),
    "maxpool1d": ("kernel_size=2", (1, 2, 7), "f32"),
    "maxpool2d": ("kernel_size=2", (1, 2, 7, 7), "f32"),
    "maxpool3d": ("kernel_size=2", (1, 1, 5, 5, 5), "f32"),
    # padding 1: count_include_pad acts; kernel 4 leaves room for padding 2
    "avgpool": ("kernel_size=4, padding=1", (1, 2, 9, 9), "f32"),
    "avgpool1d": ("kernel_size=4, padding=1", (1, 2, 9), "f32"),
    "avgpool2d": ("kernel_size=4, padding=1", (1, 2, 9, 9), "f32"),
    "avgpool3d": ("kernel_size=4, padding=1", (1, 1, 9, 9, 9), "f32"),
    **{k: ("output_size=3", (1, 2, 7, 7), "f32") for k in ("adaptive_avgpool",
                                                           "adaptive_maxpool",
                                                           "adaptive_avgpool2d",
                                                           "adaptive_maxpool2d")},
    **{k: ("output_size=3", (1, 2, 10), "f32") for k in ("adaptive_avgpool1d",
                                                         "adaptive_maxpool1d")},
    **{k: ("output_size=2", (1, 1, 5, 6, 7), "f32") for k in ("adaptive_avgpool3d",
                                                              "adaptive_maxpool3d")},
    "flatten": ("", None, "f32"),
    "reshape": ("target=(2, 4, 15)", None, "f32"),
    "permute": ("dims=(0, 2, 1)", None, "f32"),
    "transpose": ("dim0=1, dim1=-1", None, "f32"),
    "batchnorm": ("", None, "f32"),
    "batchnorm1d": ("", None, "f32"),
    "batchnorm2d": ("", None, "f32"),
    "batchnorm3d": ("", None, "f32"),
    "layernorm": ("", None, "f32"),
    "groupnorm": ("num_groups=2", (2, 4, 3, 5), "f32"),
    "instancenorm": ("", (2, 3, 5, 4), "f32"),
    "dropout": ("", None, "f32"),
    "drop_path": ("", (2, 6), "f32"),
    "upsample": ("scale_factor=2.0, mode=bilinear", (1, 2, 5, 6), "f32"),
    "pad": ("padding=1", (1, 2, 4, 4), "f32"),
    "channel_shuffle": ("groups=3", None, "f32"),
    "embedding": ("num_embeddings=10, embedding_dim=4", (2, 5), "i64"),
    **{k: ("hidden_size=4", (2, 5, 3), "f32") for k in ("rnn", "gru", "lstm")},
    "attention": ("heads=2", (2, 5, 8), "f32"),
    "positional": ("max_len=8", None, "f32"),
    "arange": ("bounds=(1, 5)", (2, 3), "f32", {"expr": "{call}"}),
    "positions": ("", (2, 5), "i64"),
    # 40 steps: relative positions reach the logarithmic buckets
    "relative_bias": ("heads=2", (1, 40, 2), "f32"),
    "window_bias": ("heads=2, window=3", (2, 3), "f32", {"expr": "{call}"}),
    "roll": ("shifts=1", (2, 3, 5), "f32"),
    "window_partition": ("window=2", (2, 4, 6, 3), "f32"),
    "window_merge": ("window=2, height=4, width=6", (12, 4, 3), "f32"),
    "select": ("", None, "f32"),
    "rmsnorm": ("", None, "f32"),
}

# (kind, field) -> the alternative value in spec syntax, or {"base": extra base arguments,
# "alt": value}: the field acts only together with another setting.
OVERRIDES = {
    ("prelu", "num_parameters"): "3",
    ("softplus", "threshold"): "1.0",             # N(0, 1) inputs never pass 20 or 10             # one per channel of (2, 3, 4)
    ("clamp", "min"): "-0.5",
    ("cast", "dtype"): "f16",
    **{(k, "axis"): "1" for k in ("sum", "mean", "max", "min", "prod", "var", "std",
                                  "logsumexp", "argmax", "argmin", "norm")},
    ("expand", "sizes"): "(5, 2, 3)",
    ("squeeze", "axis"): "1",
    ("repeat_interleave", "axis"): "1",
    ("tile", "reps"): "(1, 2, 3)",
    **{(k, "stride"): "1" for k in ("maxpool", "maxpool1d", "maxpool2d", "maxpool3d",
                                    "avgpool", "avgpool1d", "avgpool2d", "avgpool3d")},
    ("flatten", "end_dim"): "2",
    ("reshape", "target"): "(2, 15, 4)",
    ("permute", "dims"): "(1, 0, 2)",
    ("transpose", "dims"): "(0, 2, 1, 3)",
    ("layernorm", "normalized_shape"): "(3, 6)",
    ("layernorm", "axis"): "1",
    ("upsample", "size"): {"drop": "scale_factor", "alt": "(7, 9)"},   # instead of it
    **{(k, "scalar"): "0.0" for k in ("lt", "le", "gt", "ge")},   # few N(0, 1) draws in [1, 1.5]
    ("embedding", "padding_idx"): "0",
    **{(k, "dropout"): {"base": "layers=2", "alt": "0.5"} for k in ("rnn", "gru", "lstm")},
    ("attention", "kv_heads"): "1",
    ("attention", "heads"): "4",                  # 8 = 4 * 2: 3 heads would be an E305
    ("channel_shuffle", "groups"): "2",           # 6 channels
    ("split", "parts"): {"alt": "3", "outs": "a, b, c"},
    # state=true returns the final state(s) too
    ("rnn", "state"): {"alt": "true", "outs": "y, h"},
    ("gru", "state"): {"alt": "true", "outs": "y, h"},
    ("lstm", "state"): {"alt": "true", "outs": "y, h, c"},
    ("where", "other"): {"alt": "1.0", "expr": "(c, x) -> {call}"},
    ("einsum", "equation"): '"ij->ij"',
    ("param", "size"): "(4, 4)",
    ("sdpa", "scale"): "0.5",
    ("attention", "rope_base"): {"base": "rotary=true", "alt": "100.0"},
    **{("attention", f"{c}_bias"): {"base": "projections=separate", "alt": "false"} for c in "qkv"},
    ("attention", "out_bias"): "false",
    ("attention", "window"): {"base": "causal=true", "alt": "2"},
    ("attention", "scale"): "0.25",               # 0.5 = 1/sqrt(4), the default
    ("attention", "rotary_dim"): {"base": "rotary=true", "alt": "2"},
    ("attention", "rotary_layout"): {"base": "rotary=true", "alt": "interleaved"},
    ("arange", "bounds"): "(1, 6)",
    ("relative_bias", "max_distance"): "20",
    ("roll", "axis"): "1",
    ("window_partition", "window"): "1",          # 4 x 6: windows of 1 or 2
    ("window_merge", "height"): "2",              # 12 windows: 4 images of 1 x 3
    ("window_merge", "width"): "12",              # 1 image of 2 x 6
}

# Options that act only in training: torch's train mode must show them (under a fixed seed);
# the ONNX graph is an inference graph.
TRAINING_ONLY = {("dropout", "p"), ("drop_path", "p"), ("rnn", "dropout"), ("gru", "dropout"), ("lstm", "dropout"),
                 ("attention", "dropout"), ("phase_shuffle", "n"),
                 # momentum only updates the running statistics in a training step
                 ("batchnorm", "momentum"), ("batchnorm1d", "momentum"),
                 ("batchnorm2d", "momentum"), ("batchnorm3d", "momentum")}

EXCLUDED = {
    **{(k, f): "tensor_args: counts the tensors given by keyword (initial=, lengths=), set by "
               "the elaborator from the call's inputs" for k in ("rnn", "gru", "lstm")
       for f in ("initial", "lengths")},
    **{("attention", f): "tensor_args: counts the mask and bias tensors given by keyword"
       for f in ("key_padding_mask", "attention_mask", "mask", "attn_bias", "past")},
    **{("sdpa", f): "tensor_args: counts the mask and bias tensors given by keyword"
       for f in ("mask", "attn_bias")},
    ("positions", "past"): "tensor_args: counts the past-length tensors given by keyword",
    ("positions", "mask"): "tensor_args: counts the attention-mask tensors given by keyword",
    ("positional", "positions"): "tensor_args: counts the position-id tensors given by keyword",
    ("scan", "initial"): "tensor_args: counts the initial-state tensors given by keyword",
    ("scan", "body"): "holds the elaborated cell block (a body graph) the elaborator provides",
}

# Truly silent options: accepted, no change in some backend, no diagnostic. Asserted to stay
# silent (a fix makes the test fail: remove the entry then).
KNOWN_SILENT: dict[tuple[str, str], str] = {
    ("topk", "sorted"): "sorted=false permits any order (torch: unspecified), and both backends "
                        "return the sorted one, which is such an order: the ONNX TopK node "
                        "always gets sorted=1 (TopK's docstring says so)",
}

# Values that are the same computation by definition: (kind, field) -> (why, the backends in
# which the lowering is identical, as _problems reports them). Asserted exactly.
NEUTRAL = {
    **{(k, "reverse"): (f"{k} is commutative: c {k} x == x {k} c; the ONNX graph swaps the "
                        "inputs, the torch values cannot change", ["reverse=true: torch"])
       for k in ("add", "mul", "eq", "ne")},
    ("pad", "mode"): ("`constant` is an alias of `zeros` (both take value=, default 0)",
                      ["mode=constant: onnx", "mode=constant: torch"]),
}

# Ops whose fields this file does not reach: scan needs a cell block (its reverse and state).
NOT_COVERED = {"scan"}


def _cases():
    out = []
    for op in all_ops():
        for field in op.model_fields:
            if (op.kind, field) in EXCLUDED:
                continue
            out.append(pytest.param(op.kind, field, id=f"{op.kind}.{field}"))
    return out


def _literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_literal(x) for x in v) + ")"
    return repr(v) if isinstance(v, float) else str(v)


def _alternatives(op, field, current):
    """Spec literals different from `current`, from the annotation."""
    from typing import Literal, get_args, get_origin
    ann = op.model_fields[field].annotation
    if get_origin(ann) is Literal:
        return [str(m) for m in get_args(ann) if m != current]
    if isinstance(current, bool):
        return [_literal(not current)]
    if isinstance(current, int):
        return [_literal(current + 1)]
    if isinstance(current, float):
        alt = current * 0.5 + 0.25
        return [_literal(alt if alt != current else current * 0.5)]
    raise AssertionError(f"{op.kind}.{field}: no rule for {current!r}: add an OVERRIDES entry")


def _text(kind, args, shape, dtype, opts=None):
    """The one-layer model; opts: "expr" (the output expression around {call}), "outs",
    "inputs" (more input declarations)."""
    opts = opts or {}
    dims = ", ".join(str(d) for d in shape)
    call = f"{kind}({args})" if args else kind
    inputs = "".join(f" input {decl}\n" for decl in opts.get("inputs", ()))
    expr = opts.get("expr", "x -> {call}").format(call=call)
    return (f"model M {{\n input x: {dtype}[{dims}]\n{inputs}"
            f" output {opts.get('outs', 'y')} = {expr}\n}}")


def _without(args: str, field: str) -> list[str]:
    parts = [a for a in (p.strip() for p in re.split(r",\s*(?![^()]*\))", args)) if a]
    return [p for p in parts if not p.startswith(field + "=")]


def _with(args: str, field: str, value: str) -> str:
    return ", ".join(_without(args, field) + [f"{field}={value}"])


def _canon_graph(graph):
    """Nodes (op type, canonical value names, attributes), initializers, output types."""
    from onnx import helper, numpy_helper
    names: dict[str, int] = {}

    def canon(n):
        return "" if n == "" else names.setdefault(n, len(names))

    def attr(a):
        v = helper.get_attribute_value(a)
        if hasattr(v, "node"):                       # a subgraph
            return _canon_graph(v)
        if hasattr(v, "dims"):                       # a tensor
            arr = numpy_helper.to_array(v)
            return (arr.dtype.str, arr.shape, arr.tobytes())
        if isinstance(v, list):
            return tuple(_canon_graph(x) if hasattr(x, "node") else x for x in v)
        return v

    for p in graph.input:
        canon(p.name)
    inits = []
    for t in graph.initializer:
        arr = numpy_helper.to_array(t)
        inits.append((canon(t.name), arr.dtype.str, arr.shape, arr.tobytes()))
    nodes = [(n.op_type, n.domain, tuple(canon(i) for i in n.input),
              tuple(canon(o) for o in n.output),
              tuple(sorted((a.name, attr(a)) for a in n.attribute))) for n in graph.node]
    outs = [(canon(o.name), str(o.type)) for o in graph.output]
    return (tuple(nodes), tuple(sorted(inits, key=repr)), tuple(outs))


def _bytes(t):
    import torch
    t = t.detach()
    return (t.to(torch.float64) if t.dtype == torch.bfloat16 else t).numpy().tobytes()


def _torch_sig(model, weights, xs):
    import torch
    sig = []
    for mode in ("eval", "train"):
        module = model.to_torch(weights=weights)
        module.train(mode == "train")
        torch.manual_seed(0)
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in xs])
        out = out if isinstance(out, tuple) else (out,)
        sig.append((mode, tuple((tuple(o.shape), str(o.dtype), _bytes(o)) for o in out)))
        sig.append((mode, tuple((k, tuple(v.shape), str(v.dtype), _bytes(v))
                                for k, v in module.state_dict().items())))
    return sig


def _train_part(sig):
    return [entry for entry in sig if entry[0] == "train"]


def _eval_part(sig):
    return [entry for entry in sig if entry[0] == "eval"]


def _lowerings(text):
    """("rejected", None) for a located diagnostic, else {backend: signature or "E401"}."""
    program = dslc.check_text(text)
    if program.errors:
        assert all(d.span is not None for d in program.errors), program.errors
        return "rejected"
    model = program.models["M"]
    weights = random_weights(model)
    xs = make_inputs(model, {}, seed=3)
    out = {}
    for backend, lower in (("onnx", lambda: _canon_graph(model.to_onnx(weights=weights).graph)),
                           ("torch", lambda: _torch_sig(model, weights, xs))):
        try:
            out[backend] = lower()
        except BackendError as e:
            assert all(d.code == "E401" and d.span for d in e.diagnostics), e
            out[backend] = "E401"
    return out


OUTCOMES: dict = {}     # (kind, field, alt) -> "rejected" or {backend: E401 / same / differs}


def _problems(kind, field):
    """What is silent about (kind, field): a list of 'value: backend' strings (empty: fine)."""
    op = dslc.ops.OPS[kind]
    args, shape, dtype, *rest = BASE[kind]
    opts = rest[0] if rest else {}
    shape = shape or _row_shape(kind)
    over = OVERRIDES.get((kind, field))
    if isinstance(over, dict) and over.get("base"):
        args = ", ".join(a for a in (args, over["base"]) if a)
    base_text = _text(kind, args, shape, dtype, opts)
    base_program = dslc.check_text(base_text)
    assert not base_program.errors, f"the base row is invalid:\n{base_text}\n{base_program.errors}"
    (node,) = [n for n in base_program.models["M"].nodes if n.op.kind == kind]
    current = getattr(node.op, field)
    info = op.model_fields[field]
    set_in_base = re.search(rf"\b{field}=", args) is not None
    if not set_in_base and info.default is not _UNDEF:
        assert current == info.default, f"{kind}.{field}: base row is not at the default"
    if over is None:
        alts = _alternatives(op, field, current)
    else:
        alts = [over["alt"] if isinstance(over, dict) else over]
    alt_args = args
    if isinstance(over, dict) and over.get("drop"):     # the alternative replaces this one
        alt_args = ", ".join(_without(args, over["drop"]))
    alt_opts = {**opts, **{k: over[k] for k in ("expr", "outs")
                           if isinstance(over, dict) and k in over}}
    texts = [(a, _text(kind, _with(alt_args, field, a), shape, dtype, alt_opts)) for a in alts]
    base = _lowerings(base_text)
    assert base != "rejected"
    assert all(v != "E401" for v in base.values()), f"{kind}: the base row is not lowered"
    problems = []
    for alt, text in texts:
        low = _lowerings(text)
        OUTCOMES[(kind, field, alt)] = low if isinstance(low, str) else {
            k: v if v == "E401" else "same" if v == base[k] else "differs" for k, v in low.items()}
        if low == "rejected":
            continue
        (other,) = [n for n in dslc.check_text(text).models["M"].nodes if n.op.kind == kind]
        assert getattr(other.op, field) != current, f"{kind}.{field}={alt} did not take"
        for backend in ("onnx", "torch"):
            if low[backend] == "E401":
                continue
            if backend == "onnx" and (kind, field) in TRAINING_ONLY:
                continue
            mine, theirs = low[backend], base[backend]
            if backend == "torch" and (kind, field) in TRAINING_ONLY:
                mine, theirs = _train_part(mine), _train_part(theirs)
            if mine == theirs:
                problems.append(f"{field}={alt}: {backend}")
    return problems


@pytest.mark.parametrize("kind, field", _cases())
def test_option_reaches_both_lowerings(kind, field):
    if kind in NOT_COVERED:
        pytest.skip(f"{kind}: not covered by this file (multi-input, sourceless or block-bound)")
    assert kind in BASE, f"{kind}: no BASE row for its fields"
    problems = _problems(kind, field)
    if (kind, field) in NEUTRAL:
        assert problems == NEUTRAL[(kind, field)][1]
    elif (kind, field) in KNOWN_SILENT:
        assert problems, f"{kind}.{field} is no longer silent: remove it from KNOWN_SILENT"
    else:
        assert not problems, f"{kind}.{field} is silent in: {problems}"


def test_tables_name_real_fields():
    ops = {op.kind: op for op in all_ops()}
    for table in (OVERRIDES, EXCLUDED, KNOWN_SILENT, NEUTRAL, dict.fromkeys(TRAINING_ONLY)):
        for kind, field in table:
            assert field in ops[kind].model_fields, (kind, field)
    for kind, field in EXCLUDED:
        reason = EXCLUDED[(kind, field)]
        assert reason and (not reason.startswith("tensor_args")
                           or field in ops[kind].tensor_args), (kind, field)
    assert set(BASE) <= set(ops) and not set(BASE) & NOT_COVERED


def test_a_silent_option_is_caught():
    """The comparison sees sameness: an explicit default lowers as the default does, and
    dropout's p is invisible in eval mode (only the train-mode run tells 0.3 from 0.4)."""
    a = _lowerings(_text("dense", "out_features=5", (2, 7), "f32"))
    assert a == _lowerings(_text("dense", "out_features=5, bias=true", (2, 7), "f32"))
    assert a != _lowerings(_text("dense", "out_features=5, bias=false", (2, 7), "f32"))
    p3 = _lowerings(_text("dropout", "p=0.3", (4, 16), "f32"))
    p4 = _lowerings(_text("dropout", "p=0.4", (4, 16), "f32"))
    assert _eval_part(p3["torch"]) == _eval_part(p4["torch"])
    assert _train_part(p3["torch"]) != _train_part(p4["torch"])
