"""Group commit of message appends: one transaction per batch, isolated outcomes."""

from __future__ import annotations

import asyncio
import uuid
from typing import cast

import pytest

from core.errors import AppError, ErrorCode
from models import AppendRequest, AppendResult, ChatSession, Message, MessageRole
from services import MessageDraft, Services
from services.auth import Caller
from services.common.group_commit import GroupCommitter
from services.sessions import MessageBatchWriter


def _writer(services: Services) -> MessageBatchWriter:
    return MessageBatchWriter(services.database)


async def _caller(services: Services) -> Caller:
    issued = await services.users.create_user(f"u-{uuid.uuid4().hex[:8]}")
    return Caller(issued.user.id, issued.user.username, is_admin=False)


async def _session(services: Services, caller: Caller) -> ChatSession:
    return await services.sessions.create(caller, title="", agent="default", metadata={})


def _draft(content: str, cmid: str | None = None) -> MessageDraft:
    return MessageDraft(role=MessageRole.USER, content=content, client_message_id=cmid)


async def test_one_bad_request_does_not_fail_its_batch(services: Services) -> None:
    caller = await _caller(services)
    live = await _session(services, caller)
    other = await _session(services, caller)
    doomed = await _session(services, caller)
    await _writer(services).write_batch([AppendRequest(live.id, _draft("first", "dup"))])
    await ChatSession.filter(id=doomed.id).delete()

    outcomes = await _writer(services).write_batch(
        [
            AppendRequest(live.id, _draft("a")),
            AppendRequest(live.id, _draft("changed body", "dup")),  # idempotency conflict
            AppendRequest(doomed.id, _draft("to a deleted session")),
            AppendRequest(other.id, _draft("b")),
            AppendRequest(live.id, _draft("first", "dup")),  # a replay
            AppendRequest(live.id, _draft("c")),
        ]
    )

    ok = [o for o in outcomes if isinstance(o, AppendResult)]
    assert [(o.message.content, o.message.seq, o.created) for o in ok] == [
        ("a", 2, True),
        ("b", 1, True),
        ("first", 1, False),
        ("c", 3, True),
    ]
    conflict, missing = outcomes[1], outcomes[2]
    assert isinstance(conflict, AppError) and conflict.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert isinstance(missing, AppError) and missing.code == ErrorCode.SESSION_NOT_FOUND
    # flat=True gives the values themselves; tortoise types every values_list as tuples
    seqs = cast(
        list[int],
        await Message.filter(session_id=live.id).order_by("seq").values_list("seq", flat=True),
    )
    assert seqs == [1, 2, 3]
    assert (await ChatSession.get(id=live.id)).message_count == 3
    assert (await ChatSession.get(id=other.id)).message_count == 1
    assert await Message.filter(session_id=doomed.id).count() == 0


async def test_duplicates_inside_one_batch_make_one_row(services: Services) -> None:
    caller = await _caller(services)
    session = await _session(services, caller)
    outcomes = await _writer(services).write_batch(
        [
            AppendRequest(session.id, _draft("x", "k")),
            AppendRequest(session.id, _draft("x", "k")),
            AppendRequest(session.id, _draft("y", "k")),
        ]
    )
    first, replay, conflict = outcomes
    assert isinstance(first, AppendResult) and first.created
    assert isinstance(replay, AppendResult) and not replay.created
    assert replay.message.id == first.message.id
    assert isinstance(conflict, AppError) and conflict.code == ErrorCode.IDEMPOTENCY_CONFLICT
    assert await Message.filter(session_id=session.id).count() == 1


async def test_concurrent_submits_share_a_batch_and_fail_alone(services: Services) -> None:
    caller = await _caller(services)
    session = await _session(services, caller)
    gone = await _session(services, caller)
    await ChatSession.filter(id=gone.id).delete()
    committer: GroupCommitter[AppendRequest, AppendResult] = GroupCommitter(
        _writer(services).write_batch, max_batch=100, max_wait_seconds=0.05
    )
    await committer.start()
    try:
        results = await asyncio.gather(
            *(committer.submit(AppendRequest(session.id, _draft(f"m{i}"))) for i in range(5)),
            committer.submit(AppendRequest(gone.id, _draft("lost"))),
            return_exceptions=True,
        )
    finally:
        await committer.stop()
    assert committer.batches == 1
    good = [r for r in results if isinstance(r, AppendResult)]
    assert sorted(r.message.seq for r in good) == [1, 2, 3, 4, 5]
    failed = results[-1]
    assert isinstance(failed, AppError) and failed.code == ErrorCode.SESSION_NOT_FOUND


async def test_stop_drains_queued_writes_then_refuses(services: Services) -> None:
    caller = await _caller(services)
    session = await _session(services, caller)
    committer: GroupCommitter[AppendRequest, AppendResult] = GroupCommitter(
        _writer(services).write_batch, max_batch=4, max_wait_seconds=0.5
    )
    await committer.start()
    pending = [
        asyncio.create_task(committer.submit(AppendRequest(session.id, _draft(f"m{i}"))))
        for i in range(10)
    ]
    await asyncio.sleep(0)  # every submit is queued before the stop
    await committer.stop()
    results = await asyncio.gather(*pending)
    assert sorted(r.message.seq for r in results) == list(range(1, 11))
    assert await Message.filter(session_id=session.id).count() == 10
    with pytest.raises(AppError) as refused:
        await committer.submit(AppendRequest(session.id, _draft("late")))
    assert refused.value.code == ErrorCode.SHUTTING_DOWN


async def test_a_failing_handler_fails_every_caller_of_the_batch() -> None:
    async def broken(items: object) -> list[object]:
        raise RuntimeError("disk on fire")

    committer: GroupCommitter[int, int] = GroupCommitter(
        broken,  # type: ignore[arg-type]
        max_batch=10,
        max_wait_seconds=0.01,
    )
    await committer.start()
    results = await asyncio.gather(*(committer.submit(i) for i in range(3)), return_exceptions=True)
    await committer.stop()
    assert all(isinstance(r, RuntimeError) for r in results)
