"""The model provider protocol and its error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from agent.events import TextDelta, ToolCallRequested, Usage
from agent.history import ChatTurn
from agent.tools.base import ToolSpec


class ProviderError(Exception):
    """A model round failed; `code` is a stable machine code (e.g. `provider_timeout`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Provider(Protocol):
    """A chat model that streams one assistant round."""

    def stream(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ToolCallRequested | Usage]:
        """Yield text deltas, then zero or more tool-call requests, then the usage, then end.

        The usage is optional: a provider that cannot count tokens yields none.
        """
        ...
