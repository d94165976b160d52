"""The context manager refuses what cannot be stored; the agent's tools see a ToolFailed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agent import ToolFailed
from core.errors import PayloadTooLarge, UnprocessableEntity
from core.storable import MAX_JSON_DEPTH
from models import AgentContext
from services import Services
from services.auth import Caller
from services.runs.agent import SessionToolContext


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_context_bytes": 100}


async def _session_id(services: Services) -> uuid.UUID:
    issued = await services.users.create_user(f"u-{uuid.uuid4().hex[:8]}")
    caller = Caller(issued.user.id, issued.user.username, is_admin=False)
    session = await services.sessions.create(caller, title="", agent="default", metadata={})
    return session.id


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


UNSTORABLE_VALUES = [float("nan"), float("inf"), "nul\x00", "\ud800", _deep(MAX_JSON_DEPTH)]


async def test_unstorable_values_are_refused_and_nothing_is_written(services: Services) -> None:
    session_id = await _session_id(services)
    for value in UNSTORABLE_VALUES:
        with pytest.raises(UnprocessableEntity):
            await services.contexts.set_key(session_id, "k", value)
        with pytest.raises(UnprocessableEntity):
            await services.contexts.replace(session_id, {"k": value}, None)
    with pytest.raises(PayloadTooLarge):
        await services.contexts.set_key(session_id, "k", "é" * 50)  # 107 bytes of UTF-8 JSON
    stored = await AgentContext.get(session_id=session_id)
    assert (stored.version, stored.data) == (0, {})
    await services.contexts.set_key(session_id, "k", "é" * 45)  # 97 bytes: fits
    assert (await AgentContext.get(session_id=session_id)).version == 1


async def test_the_tool_context_turns_a_refused_write_into_a_tool_failure(
    services: Services,
) -> None:
    tools = SessionToolContext(await _session_id(services), services.contexts)
    with pytest.raises(ToolFailed, match="must be a finite number"):
        await tools.set_context_key("k", float("nan"))
    with pytest.raises(ToolFailed, match="the limit is 100"):
        await tools.set_context_key("k", "x" * 200)
    assert await tools.get_context() == {}
