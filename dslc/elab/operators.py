"""Operators: `+ - * / ** ...` on numbers and sizes (computed at elaboration) and on tensors
(op nodes), `and`/`or`/`not`, and `Layer * n` repeats."""
from __future__ import annotations

import operator

from ..ir.dims import Dim
from ..limits import MAX_DIGITS, MAX_EXPONENT, MAX_REPEAT, TOO_LARGE
from ..ops import OPS
from ..diagnostics import Span
from .values import POISON, LayerVal, Quotient, RepeatVal, TensorVal, kind_of, norm as _norm, show


class OperatorMixin:
    """Elaborator methods for operator expressions (see Elaborator for the state they use)."""

    def _e_Neg(self, e):
        v = self.eval(e.operand)
        if v is POISON:
            return POISON
        if isinstance(v, TensorVal):
            return self._op_on(e, "neg", [v])
        if isinstance(v, Quotient):
            return v.like(-v)
        if isinstance(v, (int, float, Dim)) and not isinstance(v, bool):
            return _norm(-v)
        raise self.error("E205", f"cannot negate {kind_of(v)}", e.span)

    def _e_Not(self, e):
        v = self.eval(e.operand)
        if v is POISON:
            return POISON
        if isinstance(v, TensorVal):
            return self._op_on(e, "logical_not", [v])
        if isinstance(v, bool):
            return not v
        raise self.error("E205", f"`not` needs a bool, got {kind_of(v)}", e.span)

    def _e_BinOp(self, e):
        if e.op in ("and", "or"):
            left = self.eval(e.left)
            if isinstance(left, TensorVal) or left is POISON:     # bool tensors: both sides
                return self._tensor_binop(e, left, self.eval(e.right))
            if not isinstance(left, bool):
                raise self.error("E205", f"`{e.op}` needs bools, got {kind_of(left)}", e.left.span)
            if (e.op == "and" and not left) or (e.op == "or" and left):
                return left
            right = self.eval(e.right)
            if not isinstance(right, bool):
                raise self.error("E205", f"`{e.op}` needs bools, got {kind_of(right)}", e.right.span)
            return right
        a, b = self.eval(e.left), self.eval(e.right)
        if a is POISON or b is POISON:
            return POISON
        if isinstance(a, TensorVal) or isinstance(b, TensorVal):
            return self._tensor_binop(e, a, b)
        if isinstance(a, (LayerVal, RepeatVal)) and e.op == "*":
            return self._repeat(e, a, b)
        return self._bounded(e, self._scalar_binop(e, a, b))

    def _bounded(self, e, v):
        """`v`, or E307 when it (or a coefficient of the size) has more than MAX_DIGITS digits:
        `(10 ** 64) ** 64` stops here, not in a conversion to text or float later."""
        if isinstance(v, (int, Dim)) and not isinstance(v, bool) \
                and Dim.of(v).largest() >= TOO_LARGE:
            raise self.error("E307", f"a number of more than {MAX_DIGITS} digits", e.span,
                             expected=f"at most {MAX_DIGITS} digits")
        return v

    _ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
              "/": operator.truediv, "%": operator.mod, "**": operator.pow}
    _CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}

    def _scalar_binop(self, e, a, b):
        num = (int, float, Dim)
        if e.op in ("==", "!="):
            return self._CMP[e.op](_norm(a), _norm(b))
        if not (isinstance(a, num) and isinstance(b, num)) or isinstance(a, bool) or isinstance(b, bool):
            raise self.error("E205", f"cannot apply `{e.op}` to {kind_of(a)} and {kind_of(b)}", e.span)
        a, b = _norm(a), _norm(b)
        if isinstance(a, Dim) or isinstance(b, Dim):
            return self._dim_binop(e, a, b)
        if e.op == "**" and isinstance(b, (int, float)) and abs(b) > MAX_EXPONENT:
            raise self.error("E307", f"exponent {b} is too large for a size or hyperparameter",
                             e.span, expected=f"an exponent of at most {MAX_EXPONENT}")
        try:
            if e.op == "/" and isinstance(a, int) and isinstance(b, int):
                return self._int_divide(e, a, b)
            out = self._CMP[e.op](a, b) if e.op in self._CMP else self._ARITH[e.op](a, b)
        except (ZeroDivisionError, OverflowError) as err:
            raise self.error("E205", "division by zero" if isinstance(err, ZeroDivisionError)
                             else "the number is too large", e.span)
        origin = next((x for x in (a, b) if isinstance(x, Quotient)), None)
        return origin.like(out) if origin else out

    def _int_divide(self, e, a: int, b: int):
        """`a / b` of ints: an int when b divides a (`out / 4` is a channel count), else a
        float that remembers the division (`1 / 64` is 0.015625 where a float is wanted)."""
        q, r = divmod(a, b)             # b == 0 raises ZeroDivisionError: E205 above
        return q if r == 0 else Quotient(a / b, e.span, a, b)

    def _inexact(self, q: Quotient, use: Span | None, what: str):
        """The error where an int is required and `q` came from a division that is not exact."""
        a, b = q.num, q.den
        return self.error("E205", f"{what} must be an int, but `{a} / {b}` does not divide "
                          "exactly", q.span, expected="an int", got=show(q),
                          notes=[(use, "the int is needed here")] if use and use != q.span else [],
                          help=f"did you mean `//`? `{a} // {b}` is {a // b} (floor division); "
                               "`/` of ints gives an int only when the division is exact")

    def _dim_binop(self, e, a, b):
        if e.op in ("+", "-", "*") and not isinstance(a, float) and not isinstance(b, float):
            return _norm(self._ARITH[e.op](Dim.of(a), Dim.of(b)))
        if e.op in ("//", "/") and isinstance(b, int) and isinstance(a, Dim):
            if b == 0:
                raise self.error("E205", "division by zero", e.span)
            if e.op == "/" and (a // b) * b != a:
                raise self.error("E305", f"`{a}` is not known to divide by {b}", e.span,
                                 help="use `//` for floor division")
            return _norm(a // b)
        raise self.error("E304", f"cannot compute `{a} {e.op} {b}` on a symbolic size", e.span,
                         help="conditions and divisions need known sizes here")

    # Functions of numbers that share their name with an op: `max(1, C // 4)` is a number,
    # `x -> max(axis=1)` the reduction. The arguments decide: numbers only, and for `max` and
    # `min` at least two of them (`x -> max(1)` reduces along axis 1).
    _NUMBER_FUNCS = {"max": (max, 2), "min": (min, 2), "abs": (abs, 1)}

    def _on_numbers(self, func: LayerVal, tensors: list, args: list, kwargs: list) -> bool:
        fn = self._NUMBER_FUNCS.get(func.name)
        return (fn is not None and func.target is OPS.get(func.name) and not tensors
                and not kwargs and len(args) >= fn[1])

    def _number_call(self, name: str, args: list, span: Span):
        fn, _ = self._NUMBER_FUNCS[name]
        if name == "abs" and len(args) > 1:
            raise self.error("E207", f"abs of a number takes one number, got {len(args)}",
                             args[1][1], expected="1", got=str(len(args)))
        vals = []
        for v, s in args:
            v = _norm(v)
            if isinstance(v, Dim):
                raise self.error("E304", f"`{name}` of the symbolic size `{v}`", s,
                                 help=f"`{name}` of sizes needs known sizes: a number in the "
                                      "input's shape, or a parameter")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.error("E205", f"`{name}` of numbers takes numbers, got {kind_of(v)}",
                                 s, expected="an int or a float", got=show(v),
                                 help=f"the reduction `{name}` takes a tensor: "
                                      f"`x -> {name}(axis=1)`" if name != "abs" else None)
            vals.append(v)
        out = fn(*vals)
        return vals[0].like(out) if isinstance(vals[0], Quotient) and name == "abs" else out

    # The op of each operator on tensors; `@` and the logical ones take tensors only.
    _TENSOR_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "@": "matmul",
                   "==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge",
                   "and": "logical_and", "or": "logical_or"}

    def _tensor_binop(self, e, a, b):
        """`a - b`, `0.5 * logvar`, `1 - z`, `x > 0`, `q @ k`: an op node; a number on
        either side becomes the op's `scalar` (reverse=true when it is on the left)."""
        if a is POISON or b is POISON:
            return POISON
        kind = self._TENSOR_OPS.get(e.op)
        if isinstance(a, TensorVal) and isinstance(b, TensorVal) and kind:
            return self._op_on(e, kind, [a, b])
        number = b if isinstance(a, TensorVal) else a
        if kind and "scalar" in OPS[kind].model_fields and isinstance(number, (int, float, Dim)) \
                and not isinstance(number, bool):
            number = _norm(number)
            if isinstance(number, Dim):
                raise self.error("E304", f"`{e.op}` with the symbolic size `{number}` on a tensor",
                                 e.span, help="sizes are numbers at run time only; use a known size")
            tensor = a if isinstance(a, TensorVal) else b
            kw = (("scalar", number, e.span),) + ((("reverse", True, e.span),) if tensor is b else ())
            return self.apply(LayerVal(kind, OPS[kind], kwargs=kw, span=e.span), [tensor], e.span)
        hint = {"//": "write `floor(a / b)`", "%": "no remainder op on tensors yet"}.get(e.op)
        if isinstance(a, (LayerVal, RepeatVal)) or isinstance(b, (LayerVal, RepeatVal)):
            hint = f"`->` binds looser than `{e.op}`: write `(x -> layer) {e.op} y`"
        raise self.error("E205", f"cannot apply `{e.op}` to {kind_of(a)} and {kind_of(b)}", e.span,
                         help=hint or "tensors combine with tensors or numbers: `+ - * / ** @`, "
                                      "comparisons, and `and`/`or` on bool tensors")

    def _op_on(self, e, kind: str, tensors: list):
        return self.apply(LayerVal(kind, OPS[kind], span=e.span), tensors, e.span)

    def _repeat(self, e, layer, n):
        if isinstance(layer, RepeatVal):
            raise self.error("E205", "a repeat cannot be repeated again", e.span)
        if isinstance(n, Quotient):
            raise self._inexact(n, e.right.span, "a repeat count")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise self.error("E205", f"a layer repeats a positive number of times, got {n!r}",
                             e.right.span)
        if n > MAX_REPEAT:
            raise self.error("E307", f"a layer repeated {n:,} times", e.right.span,
                             expected=f"at most {MAX_REPEAT:,} repeats", got=f"{n:,}",
                             help="each repeat is a layer of its own, with its own weights")
        return RepeatVal(layer, n, e.span)
