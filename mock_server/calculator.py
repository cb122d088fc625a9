"""A safe arithmetic evaluator for the ``calculate`` tool: parse with :mod:`ast`, walk a whitelist, never ``eval``.

Allowed: int and float literals, ``+ - * / // % **``, parentheses, unary minus and plus. Anything else (names,
calls, attributes, subscripts, strings, comparisons, ...) is refused with :class:`CalculationError`. Work is
bounded: the expression length, the exponent, and the size of every intermediate result.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable

from mock_server.errors import CalculationError

__all__ = ["MAX_EXPONENT", "MAX_EXPRESSION_CHARS", "MAX_RESULT_BITS", "evaluate", "find_expression"]

MAX_EXPRESSION_CHARS = 256
MAX_EXPONENT = 100
MAX_RESULT_BITS = 4096
"""Integers beyond 2**4096 are refused: big enough for any question, small enough to stay instant."""

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CANDIDATE = re.compile(r"[\d.\s+\-*/%()]+")


def find_expression(text: str) -> str | None:
    """The longest run of arithmetic characters in ``text`` that holds a digit: "what is (6 + 1) * 6?" → "(6 + 1) * 6"."""
    candidates = [m.group().strip().rstrip(".").strip() for m in _CANDIDATE.finditer(text)]
    candidates = [c for c in candidates if any(ch.isdigit() for ch in c)]
    return max(candidates, key=len) if candidates else None


def _checked(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalculationError("the result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("the result is not finite")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise CalculationError("the result is too large")
    return value


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _checked(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError(f"exponent larger than {MAX_EXPONENT}")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        except OverflowError:
            raise CalculationError("the result is too large") from None
    raise CalculationError(f"not allowed in an arithmetic expression: {type(node).__name__}")


def evaluate(expression: str) -> Number:
    """The value of ``expression``, or :class:`CalculationError` saying why it is refused."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError("not an arithmetic expression") from None
    return _eval(tree.body)
