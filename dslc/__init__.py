"""dslc: a compiler for neural-network architecture specs (.dl files)."""
from .api import check_text, load, load_torch, save_torch
from .diagnostics import Diagnostic, SpecError
from .ir.core import Model, Program, TensorType

__all__ = ["load", "check_text", "load_torch", "save_torch", "Program", "Model", "TensorType",
           "Diagnostic", "SpecError"]
__version__ = "0.1.0"
