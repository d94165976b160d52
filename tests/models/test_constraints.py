"""The database itself enforces the invariants the services rely on."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError

from models import ChatSession, Message, MessageRole, Run, RunStatus, User
from services import Services


async def _session(services: Services) -> ChatSession:
    user = await User.create(username="owner")
    return await ChatSession.create(owner=user, title="t")


async def test_duplicate_seq_in_a_session_is_rejected(services: Services) -> None:
    session = await _session(services)
    await Message.create(session=session, seq=1, role=MessageRole.USER, content="a")
    with pytest.raises(IntegrityError):
        await Message.create(session=session, seq=1, role=MessageRole.USER, content="b")


async def test_duplicate_client_message_id_in_a_session_is_rejected(services: Services) -> None:
    session = await _session(services)
    await Message.create(
        session=session, seq=1, role=MessageRole.USER, content="a", client_message_id="c-1"
    )
    with pytest.raises(IntegrityError):
        await Message.create(
            session=session, seq=2, role=MessageRole.USER, content="a", client_message_id="c-1"
        )
    other = await ChatSession.create(owner_id=session.owner_id, title="other")
    await Message.create(
        session=other, seq=1, role=MessageRole.USER, content="a", client_message_id="c-1"
    )


async def test_a_second_active_run_in_a_session_is_rejected(services: Services) -> None:
    session = await _session(services)
    await Run.create(session=session, status=RunStatus.RUNNING, active_session_id=session.id)
    with pytest.raises(IntegrityError):
        await Run.create(session=session, status=RunStatus.QUEUED, active_session_id=session.id)
    # Runs that do not hold the slot (finished, or waiting in line) never collide.
    await Run.create(session=session, status=RunStatus.COMPLETED)
    await Run.create(session=session, status=RunStatus.QUEUED)


async def test_deleting_a_session_cascades(services: Services) -> None:
    session = await _session(services)
    await Message.create(session=session, seq=1, role=MessageRole.USER, content="a")
    await Run.create(session=session, status=RunStatus.COMPLETED)
    await ChatSession.filter(id=session.id).delete()
    assert await Message.filter(session_id=session.id).count() == 0
    assert await Run.filter(session_id=session.id).count() == 0


async def test_datetimes_are_timezone_aware_utc(services: Services) -> None:
    session = await _session(services)
    loaded = await ChatSession.get(id=session.id)
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
