"""Render docs/errors.md, the catalogue of diagnostic codes, from data so that it cannot go
stale: each code's title from the registry (dslc.diagnostics.CODES), when it fires and its fix
from ENTRIES below, a failing spec from specs/invalid/ (the file tests/test_invalid_specs.py
runs), what dslc reports on it now (rendered at generation time), and the corrected line.

    python tools/errors_doc.py           # rewrite docs/errors.md
    python tools/errors_doc.py --check   # exit 1 when docs/errors.md is stale
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from specfiles import cli_args, diagnose  # noqa: E402  (the corpus's reader, shared with the tests)

from dslc.diagnostics import CODES, render  # noqa: E402

DOC = ROOT / "docs" / "errors.md"
COMMAND = "python tools/errors_doc.py"


@dataclass(frozen=True)
class Entry:
    """One code's example: `spec` (a file in specs/invalid/) gets the code; replacing `old` (once
    in the file) by `new` is the fix, after which the spec gets no diagnostic at all."""
    spec: str
    when: str
    fix: str
    old: str
    new: str

    @property
    def path(self) -> Path:
        return ROOT / "specs" / "invalid" / self.spec

    def fixed(self) -> str:
        text = self.path.read_text()
        if text.count(self.old) != 1:
            raise ValueError(f"{self.spec}: the fix's `{self.old}` occurs {text.count(self.old)} times, not once")
        return text.replace(self.old, self.new)

    def fixed_lines(self) -> list[str]:
        """The lines of the fixed spec that hold `new`, without their test annotations (none
        when the fix deletes)."""
        text = self.path.read_text()
        first = text[:text.index(self.old)].count("\n")
        lines = self.fixed().splitlines()[first:first + self.new.count("\n") + 1]
        lines = [re.sub(r"\s*#\s*[EW]:.*$", "", line) for line in lines]
        return [] if lines == [""] else lines


ENTRIES: dict[str, Entry] = {
    "E100": Entry(
        "missing_import.dl",
        "An `import` names a file that cannot be read: missing, a directory, empty, binary or not "
        "UTF-8. Paths are relative to the importing file.",
        "Name the file relative to the importing spec (the help line says where that is).",
        '"lib/resnet_blocks.dl"', '"../lib/resnet_blocks.dl"'),
    "E101": Entry(
        "syntax_unexpected_token.dl",
        "The parser meets a token that cannot come next; `expected` lists what could, and a note "
        "points at a bracket left open.",
        "Close the bracket the note points at.",
        "dense(4 -> relu", "dense(4) -> relu"),
    "E102": Entry(
        "syntax_bad_character.dl",
        "A character that is no part of the language (`;`, `$`, a stray quote).",
        "Chain layers with `->`; a statement ends at the end of its line.",
        "dense(4) ; relu", "dense(4) -> relu"),
    "E103": Entry(
        "unexpected_end_of_file.dl",
        "The file ends inside a model, a block or an expression; a note points at what is still "
        "open.",
        "Close the model with `}`.",
        "    output y = x -> dense(4)", "    output y = x -> dense(4)\n}"),
    "E104": Entry(
        "import_cycle.dl",
        "An import leads back to a file that is being imported (a file importing itself, or "
        "`a.dl -> b.dl -> a.dl`); a note marks each import along the chain.",
        "Delete the import: a file's own blocks need none (and two files that need each "
        "other's blocks move them into a third that both import).",
        'import "import_cycle.dl"', ""),
    "E105": Entry(
        "import_not_a_spec.dl",
        "An import names an absolute path, or a file that is not a `.dl` spec (after symbolic "
        "links): an import reads spec files only.",
        "Name the spec file by its relative path, `.dl` included.",
        '"../lib/resnet_blocks"', '"../lib/resnet_blocks.dl"'),
    "E201": Entry(
        "unknown_name.dl",
        "A name that no input, layer, parameter or earlier line defines (or a `tie=` naming no "
        "earlier layer or block call).",
        "Use a name defined before the line; the help suggests the closest one.",
        "hh -> relu", "h -> relu"),
    "E202": Entry(
        "unknown_op.dl",
        "A call of something that is neither an op nor a block of the file or its imports.",
        "Spell the op as `dslc ops` lists it, or define or import the block.",
        "dens(4)", "dense(4)"),
    "E203": Entry(
        "unknown_argument.dl",
        "A keyword argument that the op or block does not take; `expected` lists those it does.",
        "Spell the argument as the op does (torch's names); the help suggests the closest one.",
        "bais=false", "bias=false"),
    "E204": Entry(
        "missing_argument.dl",
        "An op or block argument without a default is not given, or a model parameter has no "
        "default.",
        "Give the argument; the help shows the call's form.",
        "dense(bias=false)", "dense(4, bias=false)"),
    "E205": Entry(
        "bad_argument_value.dl",
        "An argument has a value its op cannot take: an axis out of range, a size below 1, a "
        "number that is not finite, a division by zero, a word that is not one of the choices.",
        "Give a value in the range the `expected` line states.",
        "softmax(axis=2)", "softmax(axis=1)"),
    "E206": Entry(
        "duplicate_layer_name.dl",
        "A name given twice: two inputs, two layers with one `name=`, an output named like a "
        "layer, an argument given both positionally and by keyword, two blocks of one name.",
        "Give each its own name (`tie=fc` shares the first layer's weights instead).",
        "dense(4, name=fc)", "dense(4, name=head)"),
    "E207": Entry(
        "too_many_arguments.dl",
        "More positional arguments than the op or block takes; the rest go by keyword.",
        "Name the arguments after the positional ones.",
        "dense(4, false)", "dense(4, bias=false)"),
    "E208": Entry(
        "wrong_number_of_inputs.dl",
        "An op gets more or fewer tensors than it takes: einsum's operands, a binary operator "
        "with one, attention's (query, key, value), a recurrent layer's `initial=` states.",
        "Give as many tensors as the op takes.",
        'einsum("ni,nj->nij", x)', 'einsum("ni,nj->nij", x, x)'),
    "E209": Entry(
        "not_a_tensor.dl",
        "A layer where a tensor is needed, or a tensor where a layer is needed (either side of "
        "`->`, an output, a scan cell's result), or `input`, `output` and `return` out of place.",
        "Apply the layer to a tensor.",
        "output y = dense(4)", "output y = x -> dense(4)"),
    "E210": Entry(
        "no_output.dl",
        "A model declares no output, a block has no `return`, or the file is empty or defines "
        "no model or block.",
        "Declare the model's results with `output`.",
        "    h = x -> dense(4)", "    output h = x -> dense(4)"),
    "E301": Entry(
        "rank_mismatch.dl",
        "A tensor of the wrong rank for the op: a convolution after `flatten`, a dense layer on "
        "a rank-0 value, indices of the wrong rank.",
        "Give the op the rank it expects: a flattened tensor goes to dense layers.",
        "x -> conv2d(8, 3)", "x -> dense(8)"),
    "E302": Entry(
        "residual_mismatch.dl",
        "Two shapes that must agree do not: an elementwise operator (sizes equal or 1), concat "
        "off its axis, einsum letters, a state's shape. With symbolic sizes the message states "
        "the condition under which they would agree.",
        "Make the sizes agree at the axis named; here the convolution keeps x's 16 channels.",
        "conv2d(32, 3, padding=1)", "conv2d(16, 3, padding=1)"),
    "E303": Entry(
        "needs_larger_input.dl",
        "A size does not fit: a kernel larger than its (padded) input, an output size that is "
        "not positive for some allowed input size (the message gives the bound), a slice or "
        "`topk` beyond the axis.",
        "Allow only the sizes the layers fit, as the help says (or pad, or downsample less).",
        "H >= 16", "H >= 48"),
    "E304": Entry(
        "dense_after_symbolic_flatten.dl",
        "A weight shape needs a number but the size is symbolic: a dense layer's input width, "
        "a convolution's channels, a `-1` that cannot be inferred.",
        "Make the size known: give the input known sizes (or pool to a fixed size, "
        "`global_avgpool`, before flattening).",
        "f32[N, 3, H, W]", "f32[N, 3, 32, 32]"),
    "E305": Entry(
        "groups_not_dividing.dl",
        "A size that must divide another does not: groups and channels, heads and width, "
        "maxout's k and the features, a reshape's sizes.",
        "Choose a divisor of both channel counts (or constrain a symbol with `where H % k == 0`).",
        "groups=4", "groups=2"),
    "E306": Entry(
        "bool_arithmetic.dl",
        "A tensor of the wrong dtype: arithmetic on bool, a floating-point op on integers, "
        "float ids for an embedding, tensors of two dtypes in one op.",
        "Cast the tensor to the dtype the op takes.",
        "x * mask", "x * (mask -> cast(f32))"),
    "E307": Entry(
        "repeat_too_large.dl",
        "A size, count, repeat, exponent or nesting depth beyond dslc's stated limit, reported "
        "before any work is done; `expected` states the limit.",
        "Stay within the limit.",
        "* 10000000000", "* 4"),
    "E401": Entry(
        "torch_src_tied_norm.dl",
        "A spec that checks cleanly but a backend cannot express one of its layers; reported by "
        "`dslc check --target TARGET` before any compile, and by `dslc compile` (or "
        "`to_onnx()`/`to_torch()`/`to_torch_src()`), at the layer's line. The coverage matrix "
        "in docs/reference.md lists what each backend refuses.",
        "For torch-src, tie only dense, convolution and embedding layers, or compile to torch.",
        "layernorm(tie=norm)", "layernorm"),
    "E501": Entry(
        "over_budget.dl",
        "Only with `dslc check --max-params COUNT` or `--max-macs COUNT`: a model with more "
        "parameters, or more multiply-adds per example, than the budget, reported at its `model` "
        "line with notes at the layers that spend the most (or a model whose MACs still depend on "
        "a symbol, which `--dim NAME=SIZE` fixes). Counts take decimal suffixes: 10K, 25M, 5G.",
        "Shrink the layers the notes point at (or raise the budget).",
        "dense(256)", "dense(64)"),
    "W201": Entry(
        "unused_layer.dl",
        "A warning, not an error: a layer whose result reaches no output. Its parameters are "
        "still counted and built.",
        "Use the result, or delete the line.",
        "output y = x -> dense(4)", "output y = h -> dense(4)"),
}


def command(entry: Entry) -> str:
    """The command line that reports the entry's diagnostics (tests/test_errors_doc.py runs it)."""
    return " ".join(["dslc", *cli_args(entry.path)])


def reported(code: str, entry: Entry) -> str:
    """What dslc reports on the entry's spec, rendered; it must include `code`."""
    diagnostics, sources = diagnose(entry.path)
    if code not in {d.code for d in diagnostics}:
        raise ValueError(f"{entry.spec} does not get {code}: {[d.short() for d in diagnostics]}")
    return "\n".join(render(d, sources) for d in diagnostics)


def section(code: str, entry: Entry) -> list[str]:
    spec = entry.path.relative_to(ROOT).as_posix()
    return [f"## {code}", "", f"**{CODES[code]}.** {entry.when}", "",
            f"`{spec}`:", "```", entry.path.read_text().rstrip("\n"), "```", "",
            f"`$ {command(entry)}` reports:", "```", reported(code, entry), "```", "",
            f"**Fix.** {entry.fix}", *fenced(entry.fixed_lines()), ""]


def fenced(lines: list[str]) -> list[str]:
    return ["```", *lines, "```"] if lines else []


def catalogue() -> str:
    missing = [c for c in CODES if c not in ENTRIES]
    if missing:
        raise ValueError(f"codes without a catalogue entry in tools/errors_doc.py: {', '.join(missing)}")
    out = ["# Diagnostic codes", "",
           f"Generated by `{COMMAND}` from dslc/diagnostics.py's `CODES` and the negative specs "
           "in specs/invalid/ (each runs in tests/test_invalid_specs.py); do not edit by hand. "
           "Codes are stable: E1xx syntax, E2xx names and arguments, E3xx shapes, E4xx "
           "backends, E5xx budgets, W2xx warnings. Every report gives `file:line:col`, the line with a caret "
           "under the culprit, and where useful `expected`/`got`, notes pointing at where a "
           "shape came from, and a help line.", "",
           "| Code | Meaning |", "|---|---|"]
    out += [f"| [{c}](#{c.lower()}) | {title} |" for c, title in CODES.items()]
    out.append("")
    for code in CODES:
        out += section(code, ENTRIES[code])
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = catalogue()
    if argv == ["--check"]:
        if DOC.exists() and DOC.read_text() == text:
            return 0
        print(f"docs/errors.md is stale: run `{COMMAND}`", file=sys.stderr)
        return 1
    if argv:
        print(f"usage: {COMMAND} [--check]", file=sys.stderr)
        return 2
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
