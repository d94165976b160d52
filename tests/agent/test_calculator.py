"""The calculator evaluates arithmetic only, within bounds, and never calls eval."""

from __future__ import annotations

import pytest

from agent import ToolContext, ToolFailed
from agent.tools.calculator import calculator_tool, evaluate


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2*(3+4)", 14),
        ("1 + 2 * 3", 7),
        ("-3**2", -9),
        ("(-3)**2", 9),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("1 / 4", 0.25),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("+5", 5),
        ("--5", 5),
        ("(1.5 + 2.5) * 2", 8.0),
        ("  1 + 1  ", 2),
        ("1e3 + 0.5", 1000.5),
        ("2 ** 900 // 2 ** 899", 2),
    ],
)
def test_arithmetic(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x", "Unsupported syntax: Name"),
        ("abs(-1)", "Unsupported syntax: Call"),
        ("__import__('os').system('true')", "Unsupported syntax: Call"),
        ("(1).real", "Unsupported syntax: Attribute"),
        ("().__class__", "Unsupported syntax: Attribute"),
        ("'a' * 3", "Unsupported literal"),
        ("True + 1", "Unsupported literal"),
        ("1j", "Unsupported literal"),
        ("None", "Unsupported literal"),
        ("[1, 2]", "Unsupported syntax: List"),
        ("1 if 1 else 2", "Unsupported syntax: IfExp"),
        ("1 < 2", "Unsupported syntax: Compare"),
        ("1 and 2", "Unsupported syntax: BoolOp"),
        ("~1", "Unsupported syntax: UnaryOp"),
        ("1 << 3", "Unsupported syntax: BinOp"),
        ("lambda: 1", "Unsupported syntax: Lambda"),
        ("(y := 2)", "Unsupported syntax: NamedExpr"),
        ("1 +", "not valid arithmetic"),
        ("import os", "not valid arithmetic"),
        ("1\x00", "not valid arithmetic"),
        ("9 ** 9 ** 9", "Exponent is larger than 1000"),
        ("2 ** 1001", "Exponent is larger than 1000"),
        ("10 ** 400", "too large"),
        ("10.0 ** 400", "too large"),
        ("1e308 * 10", "too large"),
        ("10 ** 200 * 10 ** 200", "too large"),
        ("(-8) ** 0.5", "not a real number"),
        ("1 / 0", "Division by zero"),
        ("1 // 0", "Division by zero"),
        ("1 % 0.0", "Division by zero"),
        ("0 ** -1", "Division by zero"),
        ("1" + "+1" * 100, "longer than 200"),
    ],
)
def test_rejections(expression: str, message: str) -> None:
    with pytest.raises(ToolFailed, match=message.replace("(", r"\(")):
        evaluate(expression)


def test_nesting_up_to_the_length_limit_is_fine() -> None:
    assert evaluate("(" * 99 + "1" + ")" * 99) == 1
    assert evaluate("-" * 199 + "1") == -1


async def test_tool_returns_expression_and_result(memory_context: ToolContext) -> None:
    tool = calculator_tool()
    result = await tool.run({"expression": "6*7"}, memory_context)
    assert result == {"expression": "6*7", "result": 42}
    assert tool.spec.parameters["required"] == ["expression"]
