"""Fixtures for the agent runtime: an in-memory tool context and a fake OpenAI server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI, serving_fake_openai


class MemoryContext:
    """A ToolContext test double holding the session's context in a dict."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.writes: list[tuple[str, Any]] = []

    async def get_context(self) -> dict[str, Any]:
        return dict(self.data)

    async def set_context_key(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.writes.append((key, value))


@pytest.fixture
def memory_context() -> MemoryContext:
    return MemoryContext()


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with serving_fake_openai() as fake:
        yield fake
