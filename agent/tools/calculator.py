"""`calculator`: safe arithmetic over numbers, parsed with `ast` and never `eval`."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agent.tools.base import Tool, ToolContext, ToolSpec
from agent.tools.errors import ToolFailed

MAX_EXPRESSION_LENGTH = 200
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "expression": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_EXPRESSION_LENGTH,
            "description": "Arithmetic with numbers, + - * / // % ** and parentheses.",
        }
    },
    "required": ["expression"],
    "additionalProperties": False,
}


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely or raise ToolFailed."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolFailed(f"Expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ToolFailed("Expression is not valid arithmetic") from exc
    try:
        return _eval(tree.body)
    except ZeroDivisionError as exc:
        raise ToolFailed("Division by zero") from exc
    except OverflowError as exc:
        raise ToolFailed("Result is too large") from exc
    except RecursionError as exc:
        raise ToolFailed("Expression is nested too deeply") from exc


def _eval(node: ast.expr) -> Number:
    """Evaluate one whitelisted node."""
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _checked(_BINARY[type(node.op)](left, right))
    raise ToolFailed(f"Unsupported syntax: {type(node).__name__}")


def _number(value: object) -> Number:
    """Accept int and float literals only (no bools, complex numbers or strings)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolFailed(f"Unsupported literal: {value!r}")
    return _checked(value)


def _check_power(base: Number, exponent: Number) -> None:
    """Refuse powers whose exponent or result would be too large to compute cheaply."""
    if abs(exponent) > MAX_EXPONENT:
        raise ToolFailed(f"Exponent is larger than {MAX_EXPONENT}")
    if exponent > 0 and abs(base) > 1 and exponent * math.log10(abs(base)) > 300:
        raise ToolFailed("Result is too large")


def _checked(value: object) -> Number:
    """Reject non-real, non-finite or out-of-range intermediate values."""
    if not isinstance(value, int | float):
        raise ToolFailed("Result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolFailed("Result is too large")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolFailed("Result is too large")
    return value


async def run(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    """Evaluate `arguments["expression"]`."""
    expression = arguments["expression"]
    return {"expression": expression, "result": evaluate(expression)}


def calculator_tool(requires_approval: bool = False) -> Tool:
    """Build the calculator tool."""
    spec = ToolSpec(
        name="calculator",
        description="Evaluate an arithmetic expression and return its numeric result.",
        parameters=PARAMETERS,
        requires_approval=requires_approval,
        side_effects=False,
    )
    return Tool(spec=spec, handler=run)
