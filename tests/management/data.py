"""Seed data for management tests, written in-process through Tortoise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext

from core.clock import utcnow
from core.database import Database, tortoise_config
from models import (
    Agent,
    AgentContext,
    AgentVersion,
    Approval,
    ApprovalStatus,
    ChatSession,
    ContextSnapshot,
    Message,
    MessageRole,
    Run,
    RunEvent,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)
from project.backup import app_models
from services import UserService
from tests.conftest import make_settings


@asynccontextmanager
async def orm(database_url: str) -> AsyncIterator[TortoiseContext]:
    """Tortoise initialised on `database_url`, closed on exit."""
    # Tortoise caches each model's INSERT SQL by connection *name*, so a test
    # on PostgreSQL after one on SQLite would reuse `?` placeholders.
    EXECUTOR_CACHE.clear()
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(make_settings(database_url)))
        yield context


@dataclass
class Seeded:
    token: str
    session_id: str
    old_session_id: str
    messages: int


async def seed(database_url: str, *, messages: int = 20, forks: bool = False) -> Seeded:
    """Users, tokens, a busy session with history, a run with events, approvals, an old session.

    With `forks`, also two generations of forks of the busy session (`_forks_of`).
    """
    async with orm(database_url):
        users = UserService(Database.for_settings(make_settings(database_url)))
        alice = await users.create_user("alice")
        await users.create_user("root", is_admin=True)
        now = utcnow()
        session = await ChatSession.create(
            owner=alice.user,
            title="Zürich ✓",
            metadata={"tags": ["a", "b"], "nested": {"x": 1.5, "y": None}, "z": True},
            message_count=messages,
            last_message_at=now,
        )
        await AgentContext.create(session=session, version=3, data={"k": "v", "n": [1, 2]})
        agent = await Agent.create(owner=alice.user, name="helper", latest_version=2)
        await AgentVersion.create(agent=agent, version=1, provider="scripted", tools=["clock"])
        version = await AgentVersion.create(
            agent=agent,
            version=2,
            instructions="Be brief — ünïcode.",
            provider="openai",
            model="m",
            tools=["remember"],
            tools_requiring_approval=["remember"],
            history_window=7,
            client_tools=[{"name": "where", "description": "", "parameters": {"type": "object"}}],
        )
        run = await Run.create(
            session=session,
            status=RunStatus.WAITING_APPROVAL,
            event_count=3,
            agent="helper",
            agent_version=2,
            agent_config_id=version.id,
            prompt_tokens=120,
            completion_tokens=45,
        )
        await Message.bulk_create(
            [
                Message(
                    session=session,
                    seq=seq,
                    role=MessageRole.USER if seq % 2 else MessageRole.ASSISTANT,
                    content=f"message {seq} — ünïcode",
                    tool_calls=[{"id": f"c{seq}", "args": {"q": seq}}] if seq % 7 == 0 else None,
                    run=run if seq == messages else None,
                    client_message_id=f"cm-{seq}" if seq % 2 else None,
                    metadata={"i": seq},
                )
                for seq in range(1, messages + 1)
            ],
            batch_size=1000,
        )
        await RunEvent.bulk_create(
            [
                RunEvent(run=run, seq=seq, type="delta", data={"text": f"w{seq}"})
                for seq in (1, 2, 3)
            ]
        )
        call = await ToolCall.create(
            run=run,
            call_id="call-1",
            tool="remember",
            arguments={"key": "k", "value": "v"},
            status=ToolCallStatus.PROPOSED,
        )
        await Approval.create(
            session=session,
            run=run,
            tool_call=call,
            tool="remember",
            arguments={"key": "k"},
            status=ApprovalStatus.PENDING,
            expires_at=now - timedelta(minutes=5),
        )
        if forks:
            await _forks_of(session, now)
        old = await ChatSession.create(owner=alice.user, title="old")
        await AgentContext.create(session=old)
        await ChatSession.filter(id=old.id).update(updated_at=now - timedelta(days=100))
        return Seeded(alice.token, str(session.id), str(old.id), messages)


async def _forks_of(session: ChatSession, now: datetime) -> None:
    """A deleted fork of `session` that its own fork still reads from, with context snapshots.

    Their ids sort before every random one: a restore meets each fork before its parent.
    """
    middle = await ChatSession.create(
        id=UUID("00000000-0000-4000-8000-000000000002"),
        owner_id=session.owner_id,
        title="fork",
        message_count=5,
        parent=session,
        forked_at_seq=4,
        deleted_at=now,
    )
    leaf = await ChatSession.create(
        id=UUID("00000000-0000-4000-8000-000000000001"),
        owner_id=session.owner_id,
        title="fork of a fork",
        message_count=5,
        parent=middle,
        forked_at_seq=5,
    )
    await Message.create(session=middle, seq=5, role=MessageRole.USER, content="edited")
    for fork in (middle, leaf):
        await AgentContext.create(session=fork, data={"k": "v"})
    await ContextSnapshot.create(session=session, after_seq=3, data={"k": "v"})
    await ContextSnapshot.create(session=middle, after_seq=4, data={"k": "v"})
    await ContextSnapshot.create(session=leaf, after_seq=5, data={"k": "v"})


async def snapshot(database_url: str) -> dict[str, list[dict[str, Any]]]:
    """Every application row as ORM values, per table, in primary-key order."""
    async with orm(database_url):
        tables: dict[str, list[dict[str, Any]]] = {}
        for model in app_models():
            names = list(model._meta.fields_db_projection)
            tables[model._meta.db_table] = (
                await model.all().order_by(model._meta.pk_attr).values(*names)
            )
        return tables
