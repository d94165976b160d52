"""Events the agent runner yields to the services layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text, in stream order."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallRequested:
    """The model asks for one tool call; the caller decides whether and how to run it."""

    call_id: str
    tool: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    """The complete assistant message of one model round (text plus any tool calls)."""

    content: str
    tool_calls: list[dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Usage:
    """The tokens one model round used, as the provider counts them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The model answered without asking for a tool: the run is complete."""


@dataclass(frozen=True, slots=True)
class RunError:
    """The round failed; `code` is a stable machine code."""

    code: str
    message: str


Event = TextDelta | ToolCallRequested | Usage | AssistantMessage | RunFinished | RunError
