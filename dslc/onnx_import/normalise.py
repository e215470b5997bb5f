"""One canonical form before recognition, for graphs dslc did not write (issue 22, item 1):
onnx's version converter to dslc's opset (Softmax before opset 13 normalised over all the
dims from its axis on; axes that were attributes are inputs), onnxscript's constant folding and onnx_ir's passes (a Shape of known sizes folded, identity and
dead-code removal, Constant nodes as initializers), then every node that still computes on
constants alone (ConstantOfShape, Range, Expand, GatherElements of constants, which the
optimizer leaves) evaluated by onnx's reference evaluator into an initializer named as the
value it computed, and the nodes and initializers nobody reads dropped. Nodes that remain keep
their names, the provenance the spec's layer names come from. dslc's own graphs are read as
written: their subgraphs are what the matchers know (a recurrent layer's weight Gathers, a
dropout's Identity)."""
from __future__ import annotations

import math

import numpy as np

from .graph import inferred_dims, inferred_graph
from .sizes import fold_size

SMALL = 1 << 12         # operands read for their values when sizing a fold: shapes, counts

def fold_limit() -> int:
    """How many elements a value computed from constants alone may have to be evaluated into a
    constant (sizes.py tells before evaluating): 2**27, or fewer where the memory available is
    short, never below 2**24 (ResNet-50's largest weight has 2.4M). An import holds about six
    copies of a folded tensor (the evaluator's, onnx_ir's, the proto's, NumPy's; 7.9 GB for a
    1.6 GB Range of 2e8 int64s): at 8 bytes an element the limit keeps that under half the
    memory available. The model-zoo ZFNet's 75M-element fc6 weight, a ConstantOfShape, fits
    with 7.2 GB available."""
    from ..checks.memory import available_memory
    return min(1 << 27, max(1 << 24, available_memory()[0] // 96))


RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
          "Bernoulli", "Dropout"}


def normalise(proto):
    """The graph to recognise: `proto` itself when dslc wrote it, else a normalised copy."""
    if proto.producer_name == "dslc":
        return proto
    import onnx
    work = onnx.ModelProto()
    work.CopyFrom(proto)
    if opset(work) < OPSET:
        try:            # one form of each op: Softmax's axis, Unsqueeze's axes as an input, ...
            from onnx import version_converter
            work = version_converter.convert_version(work, OPSET)
        except Exception:       # noqa: BLE001 - the matchers then read the graph's own opset
            work.CopyFrom(proto)
    before = onnx.ModelProto()
    before.CopyFrom(work)
    try:
        work = _optimise(work)
    except Exception:           # noqa: BLE001 - an optimiser failure leaves the graph as it is
        work = before
    fold(work.graph, work.opset_import, {k: [d if isinstance(d, int) else None for d in v]
                                         for k, v in inferred_dims(work).items()})
    _sink_expands(work.graph)
    _zero_states(work.graph)
    fold(work.graph, work.opset_import)         # what they computed on constants, folded
    return work


# elementwise ops: on an Expand of a constant and other constants, the Expand of their result
ELEMENTWISE = {"Where", "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "LessOrEqual",
               "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Neg", "Cast", "Max",
               "Min"}


def _sink_expands(graph) -> None:
    """An elementwise op (or an embedding's Gather along axis 0 of a constant table) whose
    operands are constants but for one Expand of a constant to a computed size (a symbolic
    batch: Hugging Face's causal mask `where(expand(tril), 0, min)`, BERT's token type ids of
    zeros expanded to the batch) computes the Expand of its result on the constants, which
    fold() then evaluates: the spec expands one free tensor (`param`) to the batch. Equal
    values, as broadcasting is associative and the op elementwise; a Gather's Expand has
    the table's row dims appended as 1s."""
    from onnx import helper, numpy_helper
    consts = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    nodes, changed = [], False
    for n in graph.node:
        nodes.append(n)
        if n.domain not in ("", "ai.onnx") or len(n.output) != 1:
            continue
        gather = n.op_type == "Gather" and n.input[0] in consts and \
            not any(a.name == "axis" and a.i != 0 for a in n.attribute)
        if n.op_type not in ELEMENTWISE and not gather:
            continue
        grown = [i for i, v in enumerate(n.input) if v and v not in consts]
        e = producer.get(n.input[grown[0]]) if len(grown) == 1 else None
        if e is None or e.op_type != "Expand" or e.input[0] not in consts:
            continue
        inner, sizes = f"{n.output[0]}.unexpanded", e.input[1]
        ins = list(n.input)
        ins[grown[0]] = e.input[0]
        nodes[-1] = helper.make_node(n.op_type, ins, [inner], name=n.name, domain=n.domain)
        nodes[-1].attribute.extend(n.attribute)
        if gather:
            rows = numpy_helper.to_array(consts[n.input[0]]).ndim - 1
            ones = numpy_helper.from_array(np.ones(rows, np.int64), f"{n.output[0]}.row_dims")
            graph.initializer.append(ones)
            consts[ones.name] = ones
            sizes = f"{n.output[0]}.sizes"
            nodes.append(helper.make_node("Concat", [e.input[1], ones.name], [sizes], axis=0,
                                          name=f"{n.name}.sizes"))
        nodes.append(helper.make_node("Expand", [inner, sizes], [n.output[0]],
                                      name=f"{n.name}.expand"))
        producer[n.output[0]] = nodes[-1]
        changed = True
    if changed:
        del graph.node[:]
        graph.node.extend(nodes)


def _zero_states(graph) -> None:
    """A recurrent node's initial state of zeros (torch's, built by an Expand or a
    ConstantOfShape sized by the batch) is ONNX's default: the input is left empty."""
    from onnx import numpy_helper
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}

    def zeros(value) -> bool:
        if value in inits:
            return not numpy_helper.to_array(inits[value]).any()
        n = producer.get(value)
        if n is None or n.domain not in ("", "ai.onnx"):
            return False
        if n.op_type in ("Expand", "Slice", "Reshape", "Squeeze", "Unsqueeze", "Identity",
                         "Cast", "Transpose"):            # zeros rearranged are zeros
            return zeros(n.input[0])
        if n.op_type == "ConstantOfShape":
            v = next((a.t for a in n.attribute if a.name == "value"), None)
            return v is None or not numpy_helper.to_array(v).any()
        return False
    for n in graph.node:
        if n.op_type in ("RNN", "GRU", "LSTM") and n.domain in ("", "ai.onnx"):
            for k in (5, 6):
                if len(n.input) > k and n.input[k] and zeros(n.input[k]):
                    n.input[k] = ""


OPSET = 21          # dslc's own graphs' opset (backends/onnx/builder.py)


def opset(proto) -> int:
    """The graph's version of the default ONNX domain."""
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)


def _optimise(proto):
    """onnxscript's constant folding (with its shape inference: a Shape of known sizes is a
    constant), identity and dead-code removal, constants as initializers. Not its rewrite
    rules (they fuse a batchnorm into the dense before it, a layer the spec would lose), nor
    its initializer deduplication (equal untrained biases are no tied weights), nor its
    renaming of nodes (the names are the layers' provenance)."""
    import onnx_ir as ir
    from onnx_ir.passes import common
    from onnxscript.optimizer._constant_folding import FoldConstantsPass
    kept = [n for n in proto.graph.node if n.op_type in KEEP and n.domain in ("", "ai.onnx")]
    for n in kept:            # out of the folder's sight: it makes a Dropout an Identity
        n.domain = HIDDEN
    proto.opset_import.add(domain=HIDDEN, version=1)
    try:        # the values' shapes for the folder, inferred once rather than node by node
        typed = {v.name for v in [*proto.graph.value_info, *proto.graph.output]}
        proto.graph.value_info.extend(v for v in inferred_graph(proto).value_info
                                      if v.name not in typed)
    except Exception:           # noqa: BLE001 - the folder then knows fewer shapes
        pass
    model = ir.serde.deserialize_model(proto)
    limit = fold_limit()

    def fits(node) -> bool | None:
        """False where the node would make more than `limit` elements or an unknown number
        (onnxscript checks what it made, after making it); None: onnxscript's own rules."""
        def value(i):
            t = node.inputs[i].const_value if node.inputs[i] is not None else None
            return t.numpy() if t is not None and t.size <= SMALL else None
        shapes = [tuple(v.const_value.shape) if v is not None and v.const_value is not None
                  else None for v in node.inputs]
        out = node.outputs[0].shape if node.outputs else None
        size = fold_size(node.op_type, {k: a.value for k, a in node.attributes.items()}, shapes,
                         value, None if out is None else [d if isinstance(d, int) else None
                                                          for d in out])
        return None if size is not None and size <= limit else False
    ir.passes.Sequential(
        common.InlinePass(),
        ir.passes.PassManager([FoldConstantsPass(shape_inference=False, input_size_limit=limit,
                                                 output_size_limit=limit, should_fold=fits),
                               common.IdentityEliminationPass(),
                               common.RemoveUnusedNodesPass()], steps=2, early_stop=True),
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common.RemoveInitializersFromInputsPass(),
    )(model)
    out = ir.serde.serialize_model(model)
    for n in out.graph.node:
        if n.domain == HIDDEN:
            n.domain = ""
    ops = [o for o in out.opset_import if o.domain != HIDDEN]
    del out.opset_import[:]
    out.opset_import.extend(ops)
    return out


# nodes the folder must not rewrite: a Dropout's ratio is its layer's p
KEEP = {"Dropout"}
HIDDEN = "dslc.import.kept"


def fold(graph, opsets=(), dims=None) -> None:
    """Evaluate the nodes of `graph` that read constants only (in order, so chains fold) at the
    graph's opsets, then drop what nothing reads. A Shape whose dims `dims` knows is a
    constant; where some are symbols (a batch N), the sizes a Gather or Slice picks from it are
    constants when known (a sequence length, when only the batch is dynamic)."""
    limit = fold_limit()
    dims = dims or {}
    partial: dict[str, list] = {}       # a Shape's output: its dims, None where unknown
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    def evaluate(node, feeds):
        g = helper.make_graph([node], "fold", [helper.make_value_info(i, helper.TypeProto())
                                               for i in feeds],
                              [helper.make_value_info(o, helper.TypeProto()) for o in node.output])
        model = helper.make_model(g, opset_imports=list(opsets) or None)
        return ReferenceEvaluator(model).run(None, feeds)
    tensors = {t.name: t for t in graph.initializer}
    consts = dict.fromkeys(tensors)
    arrays: dict[str, np.ndarray] = {}

    def value(name):
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(tensors[name])
        return arrays[name]
    keep, added = [], []

    def constant(name, array):
        consts[name] = None
        arrays[name] = array
        added.append(numpy_helper.from_array(array, name))
    def shape(name):
        if name in arrays:
            return arrays[name].shape
        return tuple(tensors[name].dims)

    def small(i):
        name = node.input[i] if i < len(node.input) else ""
        return value(name) if name and math.prod(shape(name)) <= SMALL else None
    for node in graph.node:
        ins = [i for i in node.input if i]
        sizes = _sizes(node, partial, dims, consts, value)
        if sizes is not None:
            if None not in sizes:
                constant(node.output[0], np.asarray(sizes, np.int64).reshape(
                    () if node.op_type == "Gather" and value(node.input[1]).ndim == 0 else -1))
                continue
            partial[node.output[0]] = sizes
        foldable = node.domain in ("", "ai.onnx") and node.op_type not in RANDOM and \
            all(i in consts for i in ins) and not any(a.g.node or a.graphs for a in node.attribute) \
            and node.output and all(node.output)
        if foldable and (ins or node.op_type == "Constant"):
            made = fold_size(node.op_type, {a.name: helper.get_attribute_value(a)
                                            for a in node.attribute},
                             [shape(i) if i else None for i in node.input], small,
                             dims.get(node.output[0]))
        if foldable and (ins or node.op_type == "Constant") and made is not None and \
                made <= limit:
            try:
                outs = evaluate(node, {i: value(i) for i in ins})
            except Exception:   # noqa: BLE001 - the node stays for the matchers to judge
                outs = None
            if outs is not None and all(isinstance(o, np.ndarray) for o in outs):
                for name, o in zip(node.output, outs):
                    constant(name, o)
                continue
        keep.append(node)
    graph.initializer.extend(added)
    # dead code: nodes whose outputs nobody reads, initializers nobody reads
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(keep):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_reads(node))
    del graph.node[:]
    graph.node.extend(reversed(live))
    inits = [t for t in graph.initializer if t.name in needed]
    gone = {t.name for t in graph.initializer} - needed
    del graph.initializer[:]
    graph.initializer.extend(inits)
    inputs = [v for v in graph.input if v.name not in gone]    # initializers listed as inputs
    del graph.input[:]
    graph.input.extend(inputs)


def _sizes(node, partial: dict, dims: dict, consts: dict, value):
    """The sizes a Shape (or a Gather or Slice along axis 0 of one, with constant indices)
    holds, None for each unknown one; None when `node` is none of these."""
    t, ins = node.op_type, list(node.input)
    a = {x.name: x for x in node.attribute}
    if t == "Shape" and ins[0] in dims:
        d = dims[ins[0]]
        start = a["start"].i if "start" in a else 0
        end = a["end"].i if "end" in a else len(d)
        return list(d[start:end])
    if not ins or ins[0] not in partial:
        return None
    src = partial[ins[0]]
    if t == "Gather" and ("axis" not in a or a["axis"].i == 0) and ins[1] in consts:
        return [src[int(i)] for i in value(ins[1]).reshape(-1)]
    if t == "Slice" and all(i in consts for i in ins[1:] if i) and len(ins) >= 3:
        lim = [int(value(i).reshape(-1)[0]) if i else None for i in (ins + [""] * 5)[1:5]]
        if lim[2] not in (None, 0):
            return None
        return src[slice(lim[0], lim[1], lim[3])]
    return None


def _subgraph_reads(node) -> set[str]:
    """Names a node's subgraphs (Scan's, If's bodies) read from the outer graph."""
    out = set()
    for a in node.attribute:
        for g in ([a.g] if a.g.node else []) + list(a.graphs):
            for n in g.node:
                out.update(i for i in n.input if i)
                out.update(_subgraph_reads(n))
    return out
