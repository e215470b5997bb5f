"""Python text of values and calls, shared by the torch-src entries."""
from __future__ import annotations

_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
           "i8": "int8", "i32": "int32", "i64": "int64", "u8": "uint8", "bool": "bool"}


def dtype_expr(dtype: str) -> str:
    """`torch.float16` for the IR dtype f16."""
    return f"torch.{_DTYPES[dtype]}"


def lit(v) -> str:
    """A Python literal (tuples as lists, which TorchScript takes for int[] arguments)."""
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(lit(x) for x in v) + "]"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "math.inf" if v > 0 else "-math.inf"
    return repr(v)


def call(fn: str, *args, **kwargs) -> str:
    """`fn(a, b, k=v)`: positional arguments as given (already text), keywords as literals."""
    parts = [str(a) for a in args] + [f"{k}={lit(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"
