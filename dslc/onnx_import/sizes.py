"""How many elements a node computing on constants alone would make, known before it is
evaluated (issue 23: `Range(0, 2e8)` or `ConstantOfShape([20000, 20000])` are a few bytes of
file that ask for gigabytes), so that constant folding (normalise.py: onnxscript's and
dslc's own) evaluates only what fits in `fold_limit()`. From the op's definition and its
operands' shapes and (small) values: a size the formulas do not know is taken from shape
inference, else the node is not evaluated."""
from __future__ import annotations

import math

# ops whose outputs hold at most as many elements as their inputs together
NO_GROWTH = {
    "Identity", "Cast", "CastLike", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
    "Slice", "Split", "Neg", "Abs", "Reciprocal", "Sqrt", "Exp", "Log", "Relu", "Sigmoid", "Tanh",
    "Not", "Floor", "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
    "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Clip", "Softmax", "LogSoftmax", "Hardmax",
    "CumSum", "Trilu", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax",
    "ArgMin", "Shape", "Size", "IsNaN", "IsInf", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu",
    "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Shrink",
    "DepthToSpace", "SpaceToDepth", "ReverseSequence", "TopK", "Unique", "Compress",
    "ScatterElements", "ScatterND", "Scatter", "GatherElements", "EyeLike", "BitwiseNot",
    "Constant", "LpNormalization", "MeanVarianceNormalization", "Dropout"}
# ops whose output is their operands broadcast against each other
BROADCAST = {
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Where", "Equal", "Less", "LessOrEqual", "Greater",
    "GreaterOrEqual", "And", "Or", "Xor", "Max", "Min", "Sum", "Mean", "BitShift", "PRelu",
    "BitwiseAnd", "BitwiseOr", "BitwiseXor"}


def fold_size(op: str, attrs: dict, shapes: list, value, inferred=None) -> int | None:
    """The elements `op` makes from operands of `shapes` (tuples of ints; None for a missing
    optional one), or a bound on them (NO_GROWTH: their sum; NonZero: rank x size);
    `value(i)` is operand i as a NumPy array when it is small (a shape, a count), else None;
    `inferred` the output's shape where inference knows it. None when unknown (or the node is
    invalid: evaluating it would fail)."""
    try:
        size = _formula(op, attrs, shapes, value)
    except (ValueError, TypeError, IndexError, OverflowError, ZeroDivisionError):
        return None
    if size is None and inferred is not None and all(isinstance(d, int) and d >= 0
                                                     for d in inferred):
        return math.prod(inferred)
    return size


def _ints(value, i) -> list[int] | None:
    v = value(i)
    return None if v is None or v.dtype.kind not in "iu" else [int(x) for x in v.reshape(-1)]


def _formula(op, attrs, shapes, value) -> int | None:
    sizes = [math.prod(s) for s in shapes if s is not None]
    if op in NO_GROWTH:
        return sum(sizes)
    if op in BROADCAST:
        return math.prod(broadcast(*[s for s in shapes if s is not None]))
    if op == "Concat":
        return sum(sizes)
    if op == "Range":
        start, limit, delta = (value(i).reshape(()).item() for i in range(3))
        return max(math.ceil((limit - start) / delta), 0)
    if op == "ConstantOfShape":
        dims = _ints(value, 0)
        return math.prod(dims) if dims is not None and min(dims, default=0) >= 0 else None
    if op == "Expand":
        dims = _ints(value, 1)
        return None if dims is None else math.prod(broadcast(shapes[0], tuple(dims)))
    if op == "Tile":
        reps = _ints(value, 1)
        return None if reps is None or min(reps, default=0) < 0 else sizes[0] * math.prod(reps)
    if op == "OneHot":
        depth = value(1)
        return None if depth is None else sizes[0] * max(int(depth.reshape(-1)[0]), 0)
    if op == "NonZero":
        return len(shapes[0]) * sizes[0]
    if op == "Gather":
        axis = attrs.get("axis", 0) % max(len(shapes[0]), 1)
        return math.prod(shapes[0][:axis]) * sizes[1] * math.prod(shapes[0][axis + 1:])
    if op == "MatMul":
        a, b = shapes
        if len(a) < 2 or len(b) < 2:
            return None
        return math.prod(broadcast(a[:-2], b[:-2])) * a[-2] * b[-1]
    if op == "Gemm":
        return shapes[0][1 if attrs.get("transA") else 0] * shapes[1][0 if attrs.get("transB") else 1]
    if op == "Pad" and len(shapes[0]) > 0:
        pads = _ints(value, 1) if len(shapes) > 1 else list(attrs.get("pads", ()))
        r = len(shapes[0])
        if pads is None or len(pads) != 2 * r or len(shapes) > 3 and shapes[3] is not None:
            return None             # axes given: left to inference
        return math.prod(max(d + pads[i] + pads[i + r], 0) for i, d in enumerate(shapes[0]))
    return None


def broadcast(*shapes) -> tuple:
    """NumPy's broadcast of shapes; ValueError where they do not broadcast."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise ValueError("shapes do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)
