"""Forking a session while messages are appended to it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.errors import AppError, ErrorCode
from models import AppendRequest, AppendResult, ChatSession, Message, MessageRole
from services import MessageDraft, Services
from services.auth import Caller


async def _session(services: Services) -> ChatSession:
    issued = await services.users.create_user(f"u-{uuid.uuid4().hex[:8]}")
    caller = Caller(issued.user.id, issued.user.username, is_admin=False)
    return await services.sessions.create(caller, title="", agent="default", metadata={})


async def _append(services: Services, session_id: uuid.UUID, content: str) -> Message:
    draft = MessageDraft(role=MessageRole.USER, content=content)
    result = await services.message_writer.submit(AppendRequest(session_id, draft))
    assert isinstance(result, AppendResult)
    return result.message


async def _history_ids(services: Services, session: ChatSession) -> list[uuid.UUID]:
    fresh = await ChatSession.get(id=session.id)
    page = await services.sessions.messages(
        fresh, limit=500, after_seq=None, before_seq=None, cursor=None
    )
    return [uuid.UUID(str(row["id"])) for row in page.items]


async def test_forks_made_during_appends_hold_exactly_the_messages_up_to_their_point(
    services: Services,
) -> None:
    parent = await _session(services)
    first = [await _append(services, parent.id, f"m{n}") for n in range(1, 11)]
    fork_points = [10, 10, 10, 12, 14, 16, 18, 20, 25, 30]

    async def fork_at(at_seq: int) -> ChatSession | None:
        await asyncio.sleep(0.002 * (at_seq - 10))
        try:
            return await services.branches.fork(parent, at_seq=at_seq)
        except AppError as error:  # past the count committed so far
            assert error.code == ErrorCode.VALIDATION_ERROR
            return None

    appends = [_append(services, parent.id, f"m{n}") for n in range(11, 31)]
    outcomes = await asyncio.gather(*appends, *(fork_at(n) for n in fork_points))

    appended = [*first, *(m for m in outcomes[:20] if isinstance(m, Message))]
    by_seq = {message.seq: message.id for message in appended}
    assert sorted(by_seq) == list(range(1, 31))
    forks = [fork for fork in outcomes[20:] if isinstance(fork, ChatSession)]
    assert len(forks) >= 3  # at least the forks at 10
    for fork in forks:
        n = fork.forked_at_seq
        assert n is not None and fork.message_count == n
        assert await _history_ids(services, fork) == [by_seq[seq] for seq in range(1, n + 1)]
        own = await _append(services, fork.id, "own")
        assert own.seq == n + 1
    assert await _history_ids(services, parent) == [by_seq[seq] for seq in range(1, 31)]


async def test_a_fork_waits_for_an_append_in_progress_and_then_includes_it(
    services: Services,
) -> None:
    parent = await _session(services)
    await _append(services, parent.id, "m1")
    appended = asyncio.Event()

    async def fork_once_appended() -> ChatSession:
        await appended.wait()
        return await services.branches.fork(parent, at_seq=2)

    # Created outside the transaction, so the fork does not join it.
    forked = asyncio.create_task(fork_once_appended())
    async with in_transaction():
        draft = MessageDraft(role=MessageRole.USER, content="m2")
        [outcome] = await Message.append(
            services.database, [AppendRequest(parent.id, draft)], utcnow()
        )
        assert isinstance(outcome, AppendResult)
        appended.set()
        await asyncio.sleep(0.3)
        assert not forked.done()  # it waits for the parent's row
    fork = await forked
    assert fork.message_count == 2
    assert await _history_ids(services, fork) == await _history_ids(services, parent)


@pytest.mark.parametrize("at_seq", [0, 1])
async def test_a_fork_of_a_session_deleted_meanwhile_is_404(
    services: Services, at_seq: int
) -> None:
    parent = await _session(services)
    await _append(services, parent.id, "m1")
    await services.sessions.delete(parent)
    with pytest.raises(AppError) as raised:
        await services.branches.fork(parent, at_seq=at_seq)
    assert raised.value.code == ErrorCode.SESSION_NOT_FOUND
