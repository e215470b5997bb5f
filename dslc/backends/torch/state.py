"""The weights-only form of a compiled torch module (`dslc compile --target torch-state`).

A `--target torch` file is a pickle of the DslcModule: `torch.load(path, weights_only=False)`
runs whatever code the file names (never load one from an untrusted source) and needs dslc
importable. This form is a plain dict of strings and tensors, which
`torch.load(path, weights_only=True)` reads without running code:
  {"format": FORMAT, "file": the spec's name, "sources": {file name: text} (the spec and every
   file it imports), "model": the model's name, "dtype": None or the --dtype it was compiled
   with, "state_dict": the module's state_dict}
`load_torch` checks the stored spec again (its imports come from "sources", never from the
disk) and builds the module with the stored weights."""
from __future__ import annotations

import torch

from ...diagnostics import SpecError
from ...files import Unreadable

FORMAT = "dslc.torch-state/1"


def state(model, module: torch.nn.Module, dtype: str | None = None) -> dict:
    """The dict to torch.save: `module` is `model.to_torch(dtype=dtype)`, trained or not."""
    texts = dict(model.sources.texts)
    return {"format": FORMAT, "file": next(iter(texts)), "sources": texts, "model": model.name,
            "dtype": dtype, "state_dict": module.state_dict()}


def load(path, check_text) -> torch.nn.Module:
    """The module saved by `state`, read with weights_only=True. ValueError if the file is not
    such a dict or its weights do not fit the spec's model; SpecError if the stored spec no
    longer checks (a different dslc). `check_text` is dslc.api's (the backend sits below it)."""
    doc = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dslc torch-state file (format {FORMAT})")
    texts = doc["sources"]

    def read(name: str) -> str:
        if name not in texts:
            raise Unreadable(None, "not among the files saved with the model", name)
        return texts[name]

    program = check_text(texts[doc["file"]], doc["file"], read)
    if program.errors:
        raise SpecError(program.errors, program.sources)
    if doc["model"] not in program.models:
        raise ValueError(f"{path}: the saved spec has no model `{doc['model']}`")
    model = program.models[doc["model"]]
    weights = doc["state_dict"]
    expected = {**model.param_shapes(), **model.buffer_shapes()}
    wrong = [k for k, shape in expected.items()
             if k not in weights or tuple(weights[k].shape) != tuple(shape)]
    if wrong:
        raise ValueError(f"{path}: the weights do not fit model {model.name} (missing or of "
                         f"another shape: {', '.join(wrong[:5])})")
    module = model.to_torch(weights=weights, dtype=doc["dtype"])
    try:        # the rest of the state (batchnorm's num_batches_tracked), and nothing unknown
        module.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit model {model.name}: {e}") from None
    return module
