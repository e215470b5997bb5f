"""The generated language reference (dslc/tools/reference.py -> docs/reference.md) and `dslc ops`:
the file is fresh, every registered op has an entry with its arguments, MACs and ONNX lines,
the ONNX lists cover what the lowerings emit, the language section's examples check, a few
facts agree with torch and the papers, and the command's exit codes."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from dslc.tools import reference as ref
from dslc.api import check_text, load
from dslc.cli import main
from dslc.ops import INDEX, OPS, family_ops
from dslc.tools.lowering_scan import UNRESOLVED, onnx_op_types

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reference.md"


def section(kind: str, text: str | None = None) -> str:
    """One op's entry in docs/reference.md (up to the next heading)."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    m = re.search(rf"^### `{re.escape(kind)}`\n(.*?)(?=^##)", text + "\n##", re.S | re.M)
    assert m, f"docs/reference.md has no entry for `{kind}`"
    return m.group(1)


def arguments(kind: str) -> dict[str, tuple[str, str]]:
    """name -> (type, default) from an entry's argument table."""
    rows = re.findall(r"^\| `(\w+)`[^|]* \| ([^|]+) \| ([^|]+) \|$", section(kind), re.M)
    return {n: (t.strip(), d.strip()) for n, t, d in rows}


# ---- the file on disk ----
def test_reference_is_fresh():
    fresh = ref.reference()
    on_disk = DOC.read_text(encoding="utf-8")
    assert on_disk == fresh, f"docs/reference.md is stale: run `{ref.REGENERATE}`"


def test_regenerate_command_is_the_documented_one():
    assert ref.REGENERATE == "python -m dslc.tools.reference > docs/reference.md"
    assert f"`{ref.REGENERATE}`" in DOC.read_text(encoding="utf-8").split("\n", 3)[2]


def test_links_resolve():
    """Relative links point at files that exist; anchors at headings of the file."""
    text = DOC.read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", text, re.M)}
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if target.startswith("#"):
            assert target[1:] in anchors, target
        else:
            assert (DOC.parent / target.split("#")[0]).exists(), target


# ---- coverage of the registry ----
def test_every_registered_op_has_an_entry():
    text = DOC.read_text(encoding="utf-8")
    classes = {op.kind for family in set(INDEX.values()) for op in family_ops(family)}
    assert classes == set(INDEX)          # the index lists every class a family defines
    for kind in INDEX:
        body = section(kind, text)
        assert f"Family `{INDEX[kind]}`" in body
        assert "\n- MACs: " in body and "\n- ONNX: `" in body, kind
        assert "\n- Example (specs/" in body, kind


def test_every_field_is_in_its_table():
    for kind in INDEX:
        op, table = OPS[kind], arguments(kind)
        wanted = {n for n in op.model_fields if n not in op.tensor_args} - {"body"}
        wanted |= {n for n in op.positional if n not in op.model_fields}     # scan's cell
        assert set(table) == wanted, kind
        for name, (_, default) in table.items():
            f = op.model_fields.get(name)
            if f is not None and f.is_required():
                assert default == "required", (kind, name)


def test_onnx_lists_read_from_the_code():
    for kind in INDEX:
        types = onnx_op_types(OPS[kind])
        assert types and UNRESOLVED not in types, kind


# Ops the catalogues (specs/ops) leave out, with the options whose lowerings differ.
MORE = """
block Step(x: [N, F], h: [N, 4]) {
    h2 = tanh((x -> dense(4)) + (h -> dense(4, bias=false)))
    return h2, h2
}

model Images {
    input x: f32[N, 3, 8, 8]
    output y = x -> conv_transpose2d(4, 3, stride=2) -> maxpool2d(2) -> adaptive_maxpool2d(3)
    output w = x -> flatten -> maxout(4) -> silu
}

model Waves {
    input x: f32[N, 4, 16]
    output y = x -> phase_shuffle -> maxpool1d(2)
}

model Tokens {
    input ids: i64[N, T] where T <= 16
    input pad: bool[N, T]
    h = ids -> embedding(50, 8, padding_idx=0) -> positional(16) -> positional(16, encoding=sinusoidal)
    a = h -> attention(2, causal=true, rotary=true, key_padding_mask=pad) -> rmsnorm
    b = a -> attention(4, kv_heads=2, bias=false)
    c = (a, b -> dense(6)) -> attention(2)
    output cls = c -> class_token -> select
    r = h -> rnn(4, nonlinearity=relu) -> gru(4, bidirectional=true, reset=before)
    output s = r -> lstm(4, layers=2, peephole=true, output=last)
    ys, last = h -> scan(Step, reverse=true, state=true)
    output ys, last
}
"""


def test_onnx_lists_cover_what_the_lowerings_emit(monkeypatch):
    """Lower the op catalogues and MORE; every node an op's lowering emits has a type its
    entry lists, and every registered op is lowered at least once."""
    pytest.importorskip("onnx")
    from dslc.backends.onnx import builder as backend
    emitted: dict[str, set[str]] = defaultdict(set)
    lower = backend.Builder.lower

    def recording(self, node, ins, outs):
        first = len(self.nodes)
        lower(self, node, ins, outs)
        emitted[node.kind].update(n.op_type for n in self.nodes[first:])
    monkeypatch.setattr(backend.Builder, "lower", recording)
    programs = [load(p) for p in sorted((ROOT / "specs" / "ops").glob("*.dl"))]
    programs.append(check_text(MORE, str(ROOT / "specs" / "_more.dl")))
    for program in programs:
        assert not program.errors, program.errors
        for model in program.models.values():
            model.to_onnx(seed=0)
    assert set(INDEX) - set(emitted) == set(), "ops no test lowers: add them to MORE"
    for kind, types in emitted.items():
        assert types <= set(onnx_op_types(OPS[kind])), (kind, types - set(onnx_op_types(OPS[kind])))


# ---- the language section ----
def test_language_examples_check():
    text = ref.LANGUAGE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```dl\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 6
    for i, block in enumerate(blocks):
        program = check_text(block, str(ROOT / "specs" / f"_language_{i}.dl"))
        assert not program.errors, (block, [d.message for d in program.errors])
        assert program.models


def test_language_section_is_included():
    assert ref.LANGUAGE.read_text(encoding="utf-8").strip() in DOC.read_text(encoding="utf-8")


# ---- facts checked against independent sources ----
def test_defaults_agree_with_torch():
    torch = pytest.importorskip("torch")
    import inspect

    def default(cls, name):
        return inspect.signature(cls).parameters[name].default
    assert arguments("layernorm")["eps"][1] == "1e-05" == str(default(torch.nn.LayerNorm, "eps"))
    for name in ("eps", "momentum"):
        assert float(arguments("batchnorm2d")[name][1]) == default(torch.nn.BatchNorm2d, name)
    assert arguments("dropout")["p"][1] == str(default(torch.nn.Dropout, "p"))
    assert arguments("leaky_relu")["negative_slope"][1] == \
        str(default(torch.nn.LeakyReLU, "negative_slope"))
    conv = arguments("conv2d")
    for name in ("stride", "padding", "dilation", "groups"):
        assert conv[name][1] == str(default(torch.nn.Conv2d, name)), name
    assert conv["bias"][1] == "true" and conv["padding_mode"][1] == "zeros"
    # grouped-query / cross attention: torch's separate projection names
    mha = torch.nn.MultiheadAttention(8, 2, kdim=6, vdim=6)
    body = section("attention")
    for name, _ in mha.named_parameters():
        assert name in body, name


def test_defaults_from_the_papers():
    assert float(arguments("rmsnorm")["eps"][1]) == 1e-6          # LLaMA's RMSNorm
    assert float(arguments("attention")["rope_base"][1]) == 10000.0   # RoFormer's base
    assert "true = pad" in section("attention")
    assert "`key_padding_mask=`" in section("attention")


def test_dense_parameters_and_macs():
    """dense(units) on width d: d*units + units parameters, d*units MACs per row."""
    d, units = 7, 5
    program = check_text(f"model M {{\n    input x: f32[N, {d}]\n    output y = x -> dense({units})\n}}")
    model = program.models["M"]
    assert model.params == d * units + units
    node = model.nodes[0]
    assert dict(node.op.params(*node.in_types)) == {"weight": (units, d), "bias": (units,)}
    from dslc.tools.summary import macs_per_example
    assert macs_per_example(model, node).value == d * units
    assert arguments("dense") == {"out_features": ("int", "required"), "bias": ("bool", "true"),
                                  "transpose": ("bool", "false"),
                                  "weight_norm": ("bool", "false")}
    assert "weight [out, in]" in section("dense") and "bias [out]" in section("dense")


# ---- dslc ops ----
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ops_lists_every_op(capsys):
    code, out, err = run(capsys, "ops")
    assert code == 0 and not err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(INDEX)
    assert all(len(line) <= 100 for line in lines)


def test_ops_name_prints_the_entry(capsys):
    code, out, err = run(capsys, "ops", "layernorm")
    assert code == 0 and not err
    assert out.startswith("layernorm\n") and "###" not in out and "\\*" not in out
    assert re.search(r"^  eps +float +1e-05$", out, re.M)
    assert re.search(r"^- ONNX: .*`LayerNormalization`", out, re.M)
    code, out, _ = run(capsys, "ops", "attention")
    assert "key_padding_mask" in out and "q_proj_weight" in out and "rope_base" in out


@pytest.mark.parametrize("name, hint", [("layernom", "did you mean `layernorm`?"),
                                        ("qqqqzz", None)])
def test_ops_unknown_name(capsys, name, hint):
    code, out, err = run(capsys, "ops", name)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1
    assert f"no op `{name}`" in err
    assert (hint in err) if hint else "did you mean" not in err


def test_ops_imports_neither_torch_nor_onnx():
    import subprocess
    import sys
    code = ("import contextlib, io, sys\nfrom dslc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['ops']) == 0 and main(['ops', 'attention']) == 0\n"
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
