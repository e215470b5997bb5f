"""dslc: a compiler for neural-network architecture specs (.dl files)."""
from .api import check_text, load, load_torch, save_torch
from .diagnostics import Diagnostic, SpecError
from .ir.core import Model, Program, TensorType
from .passes.checkpoints import CheckpointError, read_weights, rename_weights

__all__ = ["load", "check_text", "load_torch", "save_torch", "read_weights", "rename_weights",
           "Program", "Model", "TensorType", "Diagnostic", "SpecError", "CheckpointError"]
__version__ = "0.1.0"
