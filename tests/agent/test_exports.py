"""The package's declared public surface matches what it exports."""

from __future__ import annotations

import ast
from pathlib import Path

import agent
import agent.providers
import agent.tools

REQUIRED = {
    "AgentRunner",
    "AssistantMessage",
    "ChatTurn",
    "InvalidToolArguments",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "RunError",
    "RunFinished",
    "ScriptedProvider",
    "TextDelta",
    "Tool",
    "ToolCallRequested",
    "ToolContext",
    "ToolFailed",
    "ToolOutcome",
    "ToolRegistry",
    "ToolSpec",
    "UnknownTool",
    "build_default_registry",
}


def test_all_names_exist_and_cover_the_contract() -> None:
    for module in (agent, agent.providers, agent.tools):
        assert all(hasattr(module, name) for name in module.__all__), module
        assert list(module.__all__) == sorted(module.__all__)
    assert set(agent.__all__) >= REQUIRED


def test_no_orm_or_app_imports() -> None:
    forbidden = {"tortoise", "project", "services", "models", "routes"}
    for path in Path(agent.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & forbidden, f"{path} imports {roots & forbidden}"
