"""ToolRegistry: lookup, Draft 2020-12 validation and the approval policy."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from agent import (
    InvalidToolArguments,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolSpec,
    UnknownTool,
    build_default_registry,
)


@pytest.fixture
def registry() -> ToolRegistry:
    return build_default_registry(frozenset({"remember"}))


async def noop(arguments: dict[str, Any], context: ToolContext) -> Any:
    return None


def test_default_tools_in_order(registry: ToolRegistry) -> None:
    assert [spec.name for spec in registry.specs()] == ["calculator", "clock", "remember", "recall"]
    assert registry.names() == ["calculator", "clock", "remember", "recall"]
    assert all(spec.description for spec in registry.specs())
    assert registry.get("clock") is not None
    assert registry.get("nope") is None


def test_needs_approval_comes_from_the_frozenset(registry: ToolRegistry) -> None:
    assert registry.needs_approval("remember")
    assert not registry.needs_approval("recall")
    assert not registry.needs_approval("calculator")
    assert not registry.needs_approval("unknown")

    custom = build_default_registry(frozenset({"calculator", "clock"}))
    assert [custom.needs_approval(n) for n in custom.names()] == [True, True, False, False]
    none = build_default_registry(frozenset())
    assert not any(spec.requires_approval for spec in none.specs())


def test_unknown_name_in_approval_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="remembr"):
        build_default_registry(frozenset({"remembr"}))


def test_valid_arguments_pass(registry: ToolRegistry) -> None:
    registry.validate("calculator", {"expression": "1+1"})
    registry.validate("clock", {})
    registry.validate("remember", {"key": "k", "value": {"nested": [1, None]}})
    registry.validate("remember", {"key": "k", "value": None})


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("calculator", {}, "'expression' is a required property"),
        ("calculator", {"expression": "1", "x": 1}, "('x' was unexpected)"),
        ("calculator", {"expression": 5}, "expression: 5 is not of type 'string'"),
        ("calculator", {"expression": ""}, "expression: '' should be non-empty"),
        ("clock", {"tz": "UTC"}, "('tz' was unexpected)"),
        ("remember", {"key": "k" * 101, "value": 1}, "is too long"),
        ("recall", {"key": 1}, "key: 1 is not of type 'string'"),
        ("recall", ["key"], "['key'] is not of type 'object'"),
    ],
)
def test_invalid_arguments(
    registry: ToolRegistry, name: str, arguments: Any, expected: str
) -> None:
    with pytest.raises(InvalidToolArguments) as info:
        registry.validate(name, arguments)
    assert any(expected in error for error in info.value.errors), info.value.errors
    assert info.value.message.startswith(f"Invalid arguments for {name}: ")
    assert expected in str(info.value)


def test_all_errors_are_listed(registry: ToolRegistry) -> None:
    with pytest.raises(InvalidToolArguments) as info:
        registry.validate("remember", {"key": 3, "extra": True})
    assert len(info.value.errors) == 3


def test_unknown_tool(registry: ToolRegistry) -> None:
    with pytest.raises(UnknownTool) as info:
        registry.validate("teleport", {})
    assert info.value.name == "teleport"


def test_draft_2020_12_keywords_apply() -> None:
    schema = {
        "type": "object",
        "properties": {
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]}
        },
        "unevaluatedProperties": False,
    }
    registry = ToolRegistry([Tool(ToolSpec("pairs", "d", schema), noop)])
    registry.validate("pairs", {"pair": [1, "a"]})
    with pytest.raises(InvalidToolArguments):
        registry.validate("pairs", {"pair": ["a", 1]})
    with pytest.raises(InvalidToolArguments):
        registry.validate("pairs", {"pair": [1, "a"], "other": 1})


def test_duplicate_and_invalid_schemas_are_refused() -> None:
    tool = Tool(ToolSpec("t", "d", {"type": "object"}), noop)
    registry = ToolRegistry([tool])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(tool)
    with pytest.raises(jsonschema.SchemaError):
        registry.register(Tool(ToolSpec("bad", "d", {"type": "nonsense"}), noop))
    assert registry.names() == ["t"]
