"""The language reference, generated from the op registry and the op classes themselves, so
it cannot drift from them: per op its kind, family, positional order, fields (pydantic model
fields: type and default), tensor keyword inputs, arity, the shape rule (the class docstring,
which states it), the MACs convention (the `macs` docstring), the ONNX op types its lowering
emits (read from the code: dslc.tools.lowering_scan) and an example evaluated by dslc on the first
use of the op in the repository's specs (input and output types, parameter and buffer shapes,
MACs). The language constructs come from docs/language.md, whose examples a test checks;
the `init=` functions from dslc.passes.weights.INIT_FUNCS.

`python -m dslc.tools.reference > docs/reference.md` regenerates docs/reference.md (a test fails
when it is stale); `dslc ops [NAME]` prints the list or one entry. Imports neither torch nor
onnx."""
from __future__ import annotations

import re
import sys
import typing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic_core import PydanticUndefined

from ..elab.elaborator import LAYER_KWARGS
from ..ops import INDEX, OPS
from ..ops.base import Op, repr_value
from ..passes.weights import INIT_FUNCS
from .coverage import markdown
from .lowering_scan import onnx_op_types

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
LANGUAGE = REPO / "docs" / "language.md"
REGENERATE = "python -m dslc.tools.reference > docs/reference.md"


# ---- the fields of an op ----
@dataclass(frozen=True)
class Field:
    name: str
    type: str
    default: str            # "required", "unset" (None: the op decides) or the spec spelling
    position: int | None    # 1-based place among the positional arguments


def type_name(t) -> str:
    """A field's annotation as a reader spells it: `int or tuple of int`, `one of a, b`."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is typing.Union:
        return " or ".join(type_name(a) for a in args if a is not type(None))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple of {type_name(args[0])}"
        return "(" + ", ".join(type_name(a) for a in args) + ")"
    if t is typing.Any:
        return "block"
    return {"Dim": "size", "str": "word"}.get(getattr(t, "__name__", str(t)),
                                            getattr(t, "__name__", str(t)))


def default_text(value) -> str:
    if value is PydanticUndefined:
        return "required"
    return "unset" if value is None else repr_value(value)


def fields(op: type[Op]) -> list[Field]:
    """The hyperparameters, positional ones first in their order; the counters of tensor
    keyword inputs are left out (they are tensors in a spec)."""
    order = list(op.positional) + ([op.varargs] if op.varargs else [])
    names = order + [n for n in op.model_fields if n not in order]
    out = []
    for name in names:
        pos = order.index(name) + 1 if name in op.positional else None
        if op.regions and name not in op.model_fields:
            out.append(Field(name, "block", "required", pos))   # scan's cell, elaborated to `body`
            continue
        if name in op.tensor_args or name not in op.model_fields or \
                name in op.regions:
            continue
        f = op.model_fields[name]
        default = default_text(f.default)
        if op.model_dtype and name == "dtype":
            default = f"the model's floating dtype ({default} without one)"
        out.append(Field(name, type_name(f.annotation), default, pos))
    return out


# ---- what the docstrings say ----
def _doc(obj) -> str:
    return " ".join((obj.__doc__ or "").split())


def summary(op: type[Op]) -> str:
    """The docstring's first sentence."""
    doc = _doc(op)
    m = re.search(r"\.(\s+(?=[A-Z`])|$)", doc)
    return doc[:m.start() + 1] if m else doc


def macs_rule(op: type[Op]) -> str:
    if op.macs is Op.macs:
        return "0 (the op has no MACs rule of its own, so dslc counts none)."
    return _doc(op.macs)


def counted_ops() -> list[str]:
    """The kinds whose MACs rule can count more than 0 (its docstring does not say `0`)."""
    return [k for k in INDEX if OPS[k].macs is not Op.macs and not _doc(OPS[k].macs).startswith("0")]


def call_form(op: type[Op]) -> str:
    if op.varargs:
        return f"{op.kind}({op.varargs}...)"
    if op.arity == (0, 0) or op.positional:
        return f"{op.kind}({', '.join(op.positional)})"
    return op.kind


def inputs_text(op: type[Op]) -> str:
    lo, hi = op.arity
    if hi is None:
        return f"{lo} or more tensor inputs"
    if lo == hi:
        return "no tensor input (a value)" if lo == 0 else \
            f"{lo} tensor input{'s' if lo > 1 else ''}"
    return f"{lo} to {hi} tensor inputs"


# ---- an example evaluated on the specs ----
@dataclass(frozen=True)
class Example:
    file: str
    line: int
    call: str
    ins: tuple[str, ...]
    outs: tuple[str, ...]
    params: dict
    buffers: dict
    macs: str

    def text(self) -> str:
        where = f"{self.file}:{self.line}"
        on = f" on `{', '.join(self.ins)}`" if self.ins else ""
        parts = [f"`{self.call}`{on} gives `{', '.join(self.outs)}`"]
        for what, shapes in (("parameters", self.params), ("buffers", self.buffers)):
            if shapes:
                total = sum(_numel(s) for s in shapes.values())
                listed = ", ".join(f"`{k}` {list(s)}" for k, s in shapes.items())
                parts.append(f"{what} {listed} ({total:,})")
        if not self.params:
            parts.append("no parameters")
        macs = self.macs if self.macs.replace(",", "").isdigit() else f"`{self.macs}`"
        parts.append(f"MACs per example {macs}")
        return f"Example ({where}): " + "; ".join(parts) + "."


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def spec_files() -> list[Path]:
    """The valid specs, the op catalogues (specs/ops) first."""
    if not SPECS.is_dir():
        return []
    rest = [p for p in sorted(SPECS.rglob("*.dl")) if p.parent.name not in ("ops", "invalid")]
    return sorted((SPECS / "ops").glob("*.dl")) + rest


@lru_cache(maxsize=None)
def _nodes(path: Path) -> tuple:
    from ..api import check_text
    from ..files import read_spec_file
    program = check_text(read_spec_file(path), str(path))
    return tuple((m, n) for m in program.models.values() for n in m.nodes) \
        if not program.errors else ()


def example(kind: str) -> Example | None:
    """The op's first use in spec_files(), those naming it first (an operator such as `+`
    is found in the others)."""
    from .summary import macs_per_example
    files = spec_files()
    word = re.compile(rf"\b{re.escape(kind)}\b")
    named = [p for p in files if word.search(p.read_text(encoding="utf-8"))]
    for path in named + [p for p in files if p not in named]:
        for model, node in _nodes(path):
            if node.kind == kind:
                macs = macs_per_example(model, node)
                return Example(str(path.relative_to(REPO)), node.span.line, node.op.describe(),
                               tuple(map(str, node.in_types)), tuple(map(str, node.out_types)),
                               dict(node.op.params(*node.in_types)),
                               dict(node.op.buffers(*node.in_types)),
                               f"{macs.value:,}" if macs.is_const() else str(macs))
    return None


# ---- renders ----
def _prose(text: str, markdown: bool) -> str:
    """Docstring text; for Markdown, `*` escaped outside code spans (`[*, in]` is no emphasis)."""
    if not markdown:
        return text
    return "`".join(p if i % 2 else p.replace("*", "\\*") for i, p in enumerate(text.split("`")))


def entry(kind: str, markdown: bool = True) -> str:
    """One op's entry: Markdown for docs/reference.md, or plain text for `dslc ops NAME` (the
    same facts: no heading marks, no escapes, the arguments in aligned columns)."""
    op = OPS[kind]
    head = f"### `{kind}`" if markdown else kind
    call = f"`{call_form(op)}`" if markdown else call_form(op)
    lines = [head, "", f"Family `{INDEX[kind]}`; call {call}; {inputs_text(op)}.", "",
             _prose(_doc(op), markdown), ""]
    fs = fields(op)
    if fs:
        rows = []
        for f in fs:
            pos = f" (positional {f.position})" if f.position else ""
            pos = " (positional, all of them)" if f.name == op.varargs else pos
            rows.append((f"`{f.name}`{pos}" if markdown else f.name + pos, f.type, f.default))
        if markdown:
            lines += ["| argument | type | default |", "| --- | --- | --- |"]
            lines += [f"| {a} | {t} | {d} |" for a, t, d in rows]
        else:
            rows.insert(0, ("argument", "type", "default"))
            wa, wt = (max(len(r[i]) for r in rows) for i in (0, 1))
            lines += [f"  {a:<{wa}}  {t:<{wt}}  {d}".rstrip() for a, t, d in rows]
        lines.append("")
    if op.tensor_args:
        lines.append("- Tensor inputs by keyword: " +
                     ", ".join(f"`{t}=`" for t in op.tensor_args) + ".")
    if op.precise:
        lines.append("- Computed in f32 when its tensors are f16 or bf16 (parameters f32).")
    lines.append(f"- MACs: {_prose(macs_rule(op), markdown)}")
    types = onnx_op_types(op)
    lines.append("- ONNX: " + (", ".join(f"`{t}`" for t in types) if types else "no lowering")
                 + " (every type some option can emit).")
    ex = example(kind)
    if ex:
        lines.append(f"- {ex.text()}")
    return "\n".join(lines) + "\n"


def op_table(width: int = 100) -> str:
    """`dslc ops`: kind, family and the first sentence of each op's docstring, cut to fit
    `width` columns."""
    kw, fw = max(map(len, INDEX)), max(map(len, INDEX.values()))
    room = width - kw - fw - 4
    def cut(s: str) -> str:
        return s if len(s) <= room else s[:room - 3].rsplit(" ", 1)[0] + " ..."
    return "".join(f"{k:<{kw}}  {f:<{fw}}  {cut(summary(OPS[k]))}\n" for k, f in INDEX.items())


def reference() -> str:
    """docs/reference.md."""
    families: dict[str, list[str]] = {}
    for kind, family in INDEX.items():
        families.setdefault(family, []).append(kind)
    head = ["# The dslc language reference", "",
            f"Generated from the op classes by `{REGENERATE}`; do not edit by hand "
            "(tests/test_reference.py fails when it is stale). `dslc ops` lists the ops, "
            "`dslc ops NAME` prints one entry. Error codes and their fixes: "
            "[errors.md](errors.md). A first walk through the course exercises: "
            "[tutorial.md](tutorial.md).", ""]
    body = [LANGUAGE.read_text(encoding="utf-8").rstrip("\n"), "", *initialisers(), "",
            "## Ops", "",
            "Each entry: the call form and how many tensors it takes, the shape rule and the "
            "parameters as the class states them, its arguments (every op also takes the layer "
            f"options {', '.join(f'`{k}=`' for k in LAYER_KWARGS)}; a default `unset` means the "
            "op chooses, as its description says), the MACs convention, the ONNX "
            "operators its lowering can emit, and an example evaluated by dslc on the op's "
            "first use in `specs/`.", "",
            "MACs are multiply-accumulates per example of contractions only; the ops whose rule "
            "can count more than 0 are " + ", ".join(f"`{k}`" for k in counted_ops()) +
            "; every other op counts 0.", ""]
    body += [f"- {f}: " + ", ".join(f"[`{k}`](#{k})" for k in kinds) for f, kinds in families.items()]
    body += ["", "## Coverage", "",
             "Every op in every target: torch (`--target torch`), readable torch source "
             "(`--target torch-src`), ONNX (`--target onnx`), ONNX "
             "with onnxruntime's fused operators (`--fuse`), and `dslc import` of dslc's own "
             "graph (the kinds of every spec the round-trip test imports). Read from the "
             "backends' tables; tests/test_coverage.py fails when an op lacks an entry or a "
             "target refuses an instance not listed here.", "", *markdown(), ""]
    for family, kinds in families.items():
        body += [f"## Family `{family}`", ""] + [entry(k) for k in kinds]
    return "\n".join(head + body).rstrip("\n") + "\n"


def initialisers() -> list[str]:
    """The `init=` functions and their keyword arguments with defaults (passes.weights)."""
    lines = ["### Initialisers", "",
             "`init=` takes a number (every element that value), nested lists of the "
             "parameter's shape, one of these functions (with torch.nn.init's meaning; "
             "positional arguments in the order listed) or a record `{weight: ..., bias: ...}` "
             "of them per parameter:", "",
             "| function | arguments (defaults) |", "| --- | --- |"]
    for fn, args in INIT_FUNCS.items():
        listed = ", ".join(f"`{k}={repr_value(v)}`" for k, v in args.items()) or "none"
        lines.append(f"| `{fn}` | {listed} |")
    return lines


def main() -> int:
    """Write docs/reference.md's text to stdout as UTF-8 with `\\n` line ends, whatever the
    locale, so that `python -m dslc.tools.reference > docs/reference.md` is reproducible."""
    sys.stdout.flush()
    sys.stdout.buffer.write(reference().encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
