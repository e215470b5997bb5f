"""The package's layers: each group of modules imports only the groups below it (module-level and
function-level imports alike), so the folders read like the pipeline and the core stays free of
the backends. The few stated exceptions are listed here, each with its reason."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dslc"

# lowest first; a group may import its own modules and any group of a lower layer
LAYERS = [
    {"diagnostics", "files", "limits"},
    {"ir"},
    {"passes", "checks"},
    {"ops"},
    {"syntax"},
    {"elab"},
    {"backends", "backends.onnx", "backends.torch", "backends.torch_src"},
    {"api"},
    {"tools", "onnx_import"},
    {"cli", "__main__", "__init__"},
]
RANK = {g: i for i, layer in enumerate(LAYERS) for g in layer}
# (importing module, imported group): why it may reach up
EXCEPTIONS = {
    # Model's convenience methods (model.weights(), to_torch(), to_torch_src(), to_onnx()) are
    # the public API; each is one lazy call into the pass or backend that does the work.
    ("dslc.ir.core", "passes"): "Model.weights()",
    ("dslc.ir.core", "backends.torch"): "Model.to_torch()",
    ("dslc.ir.core", "backends.torch_src"): "Model.to_torch_src()",
    ("dslc.ir.core", "backends.onnx"): "Model.to_onnx()",
    ("dslc.ir.core", "elab"): "Model.to_torch(kv_cache=True): the KV-cache rewrite builds ops",
}


def _group(module: str) -> str:
    parts = module.split(".")[1:] or ["__init__"]
    if parts[0] == "backends" and len(parts) > 1 and parts[1] in ("onnx", "torch", "torch_src"):
        return f"backends.{parts[1]}"
    return parts[0]


def _imports():
    """(importing module, imported dslc module, line) for every import in the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        module = ".".join(parts if parts[-1] != "__init__" else parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" for a in node.names]
                yield module, names[0] if target == "dslc.backends" else target, node.lineno
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dslc"):
                yield module, node.module, node.lineno
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("dslc"):
                        yield module, a.name, node.lineno


def test_every_group_has_a_layer():
    groups = {_group(m) for m, _, _ in _imports()}
    assert groups <= set(RANK), f"modules in no layer: {sorted(groups - set(RANK))}"


def test_no_group_imports_a_higher_layer():
    upward = [f"{m}:{line} imports {t}" for m, t, line in _imports()
              if RANK[_group(t)] > RANK[_group(m)] and (m, _group(t)) not in EXCEPTIONS]
    assert not upward, "\n".join(upward)


def test_the_exceptions_are_still_needed():
    used = {(m, _group(t)) for m, t, _ in _imports()}
    assert set(EXCEPTIONS) <= used, f"stale exceptions: {sorted(set(EXCEPTIONS) - used)}"


def test_ops_import_no_backend():
    """An op class states what is true in every target; its lowerings live in the backends."""
    found = [f"{m}:{line} imports {t}" for m, t, line in _imports()
             if m.startswith("dslc.ops") and _group(t).startswith("backends")]
    assert not found, "\n".join(found)
