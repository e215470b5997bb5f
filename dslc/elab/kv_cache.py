"""The KV-cache pass (IR -> IR): a causal language model becomes the model that generates with
a cache. Each causal self-attention layer, in order i = 0, 1, ..., takes the keys and values of
the tokens before (`past_key_values.i.key` / `.value`, [N, kv_heads, P, head size], P >= 0) and
returns them with the new tokens' appended (`present.i.key` / `.value`, [N, kv_heads, P + T,
head size]); rotary positions and the causal mask count from P. One graph serves the prefill
(P = 0, the whole prompt) and each decode step (T = 1).

The model also takes Hugging Face's `attention_mask` [N, P + T] (0 = padding): the cached
layers ignore padded keys, and a position table (`positional`) is read at the position ids the
mask gives, HF's rule (cumsum - 1), so left-padded batches generate what each row would alone.

The cache is exact only when every other layer treats each position on its own: a layer that
mixes positions across time (a convolution or pooling over T, a recurrent layer, a norm over
T, attention that is not causal) gets a located diagnostic naming it, and nothing is
derived."""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..ir.core import Model, Node, Port, tensor
from ..ir.dims import Dim

# Kinds that compute each position from that position alone, on any axis (elementwise math,
# activations, casts), or on the last axis only (dense, embedding lookups). layernorm and
# rmsnorm carry weights shaped like the axes they normalise: never a symbolic time axis.
_POSITIONWISE = {
    "dense", "embedding", "dropout", "drop_path", "rmsnorm", "layernorm", "cast", "maxout",
    "relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "gelu", "sigmoid", "silu",
    "quick_gelu", "tanh", "hardtanh", "softplus", "step",
    "add", "sub", "mul", "div", "pow", "neg", "eq", "ne", "lt", "le", "gt", "ge",
    "logical_and", "logical_or", "logical_not", "where",
    "exp", "log", "log1p", "sqrt", "rsqrt", "abs", "square", "clamp", "sin", "cos", "erf",
    "sign", "floor", "round", "reciprocal", "softsign", "logsigmoid", "mish", "hardswish",
    "hardsigmoid",
}


class CacheRefused(Exception):
    """The model cannot be served by a KV cache: `diagnostics` say which layers and why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def _time_mixing(node) -> str | None:
    """Why `node` mixes positions along axis 1 (the time axis), or None."""
    kind = node.kind
    if kind == "attention":
        op = node.op
        if op.n_tensors(node.in_types) != 1:
            return "cross-attention is not cached yet (its keys come from another sequence)"
        if not op.causal:
            return "it is not causal: each position sees later ones, which a cache has not seen"
        if op.past:
            return "it already takes a cache (past=)"
        if op.key_padding_mask or op.mask or op.attn_bias:
            return "its masks and biases are sized by the new tokens alone, not the cache's"
        return None
    x = node.in_types[0] if node.in_types else None
    if kind in ("softmax", "log_softmax"):
        return None if x is not None and node.op.axis % x.rank != 1 else "it normalises over time"
    if kind in _POSITIONWISE:
        return None
    if kind == "positional" and node.op.positions:
        return "its position ids come from the model's inputs; the cache reads them from the mask"
    if kind == "positional":
        return None
    return f"{kind} is not known to keep positions apart"


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{k}"
    return name


def _position_ids(node, mask_t, counter: int):
    """A `positions(mask=attention_mask)` node giving `node` (a positional) its rows: Hugging
    Face's position ids of the new tokens from the mask (cumsum - 1 over its last T columns,
    left padding counted out), and the positional reading the table at them."""
    from ..ops import OPS
    x = node.in_types[0]
    ids_op = OPS["positions"](mask=1)
    ids_value = f"{node.name}.position_ids"
    ids_t = ids_op.infer(x, mask_t)[0]
    ids = Node(name=f"{node.name}_positions{counter}", op=ids_op, inputs=(node.inputs[0], "attention_mask"),
               outputs=(ids_value,), in_types=(x, mask_t), out_types=(ids_t,), span=node.span,
               call_sites=node.call_sites, blocks=node.blocks)
    op = node.op.model_copy(update={"positions": 1})
    read = node.model_copy(update={"op": op, "inputs": node.inputs[:1] + (ids_value,) + node.inputs[1:],
                                   "in_types": node.in_types[:1] + (ids_t,) + node.in_types[1:]})
    return ids, read


def with_kv_cache(model: Model) -> Model:
    """The model with a cache on each causal self-attention (see the module's docstring);
    raises CacheRefused with a diagnostic per layer that prevents it. The model also takes
    Hugging Face's `attention_mask` i64[N, P + T] (1 = a token, 0 = padding, as left padding
    makes them; the past's columns first): every cached layer ignores the padding keys, and a
    position table is read at the position ids the mask gives (cumsum - 1)."""
    problems = []
    first = model.inputs[0].type if model.inputs else None
    time = first.shape[1] if first is not None and first.rank >= 2 else None
    if time is None or time.is_const() or not time.is_atom():
        problems.append(Diagnostic(
            "E401", "a KV cache needs the model's first input to have a symbolic time axis "
            "([N, T] token ids or [N, T, D])", model.span, expected="[N, T, ...]",
            got=str(first) if first is not None else "no input"))
    else:
        for node in model.nodes:
            why = _time_mixing(node)
            if why:
                problems.append(Diagnostic(
                    "E401", f"{node.name} ({node.describe()}) prevents a KV cache: {why}",
                    node.span, expected="layers that treat each position on its own, and causal "
                    "self-attention", got=node.kind))
    cached = [n for n in model.nodes if n.kind == "attention"]
    if not problems and not cached:
        problems.append(Diagnostic("E401", "a KV cache needs causal self-attention; this model "
                                   "has none", model.span))
    if problems:
        raise CacheRefused(problems)
    past = _fresh("P", set(model.symbols()))
    mask_t = tensor((first.shape[0], Dim.of(past) + time), "i64")
    inputs = list(model.inputs) + [Port(name="attention_mask", value="attention_mask", type=mask_t,
                                        span=model.inputs[0].span)]
    outputs, nodes, i = list(model.outputs), [], 0
    for node in model.nodes:
        if node.kind == "positional":
            nodes += _position_ids(node, mask_t, len(nodes))
            continue
        if node.kind != "attention":
            nodes.append(node)
            continue
        x = node.in_types[0]
        kvh, d = node.op.kv_heads or node.op.heads, node.op.dims(*node.in_types)[1]
        names = [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
        kept = [f"present.{i}.key", f"present.{i}.value"]
        past_t = tensor((x.shape[0], kvh, past, d), x.dtype)
        inputs += [Port(name=v, value=v, type=past_t, span=node.span) for v in names]
        op = node.op.model_copy(update={"past": 2, "attention_mask": 1})
        in_types = node.in_types + (mask_t, past_t, past_t)
        out_types = op.infer(*in_types)
        outputs += [Port(name=v, value=v, type=t, span=node.span) for v, t in zip(kept, out_types[1:])]
        nodes.append(node.model_copy(update={
            "op": op, "inputs": node.inputs + ("attention_mask", *names), "in_types": in_types,
            "outputs": node.outputs + tuple(kept), "out_types": out_types}))
        i += 1
    constraints = {**model.constraints, past: {"min": 0}}
    return model.model_copy(update={"inputs": tuple(inputs), "outputs": tuple(outputs),
                                    "nodes": tuple(nodes), "constraints": constraints})


def longest_sequence(model: Model) -> int | None:
    """How many positions the model's position tables hold (the fewest rows past their offset
    among its `positional` layers): the longest sequence a cache can reach; None when it has
    no table (rotary embedding and ALiBi have no bound)."""
    rows = [n.op.max_len - n.op.offset for n in model.walk() if n.kind == "positional"]
    return min(rows) if rows else None
