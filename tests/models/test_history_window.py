"""What a run sees of its session's history."""

from __future__ import annotations

import uuid

import httpx

from models import AppendRequest, ChatSession, Message, MessageRole, Run, RunStatus
from services import MessageDraft, Services
from tests.factories import make_session, make_user


async def test_a_run_sees_plain_messages_but_not_the_runs_queued_behind_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    session_id = uuid.UUID((await make_session(client, headers))["id"])
    current = await Run.create(session_id=session_id, agent="default", status=RunStatus.RUNNING)
    queued = await Run.create(session_id=session_id, agent="default", status=RunStatus.QUEUED)

    async def append(content: str, run: Run | None) -> None:
        draft = MessageDraft(role=MessageRole.USER, content=content, run_id=run.id if run else None)
        await services.message_writer.submit(AppendRequest(session_id, draft))

    await append("posted without a run", None)
    await append("input of the current run", current)
    await append("input of the run queued behind", queued)

    window = await Message.history_window(services.database, session_id, current.id, 50)

    assert [message["content"] for message in window] == [
        "posted without a run",
        "input of the current run",
    ]


async def test_a_forks_window_continues_into_what_it_shares_with_its_ancestors(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    root = uuid.UUID((await make_session(client, headers))["id"])

    async def append(session_id: uuid.UUID, content: str) -> None:
        draft = MessageDraft(role=MessageRole.USER, content=content)
        await services.message_writer.submit(AppendRequest(session_id, draft))

    async def fork(session_id: uuid.UUID, at_seq: int) -> uuid.UUID:
        parent = await ChatSession.get(id=session_id)
        return (await services.branches.fork(parent, at_seq=at_seq)).id

    for n in range(1, 7):
        await append(root, f"r{n}")
    child = await fork(root, 4)
    await append(child, "c5")
    await append(root, "r7")  # after the fork: never the child's
    grandchild = await fork(child, 5)
    await append(grandchild, "g6")
    run = await Run.create(session_id=grandchild, agent="default", status=RunStatus.RUNNING)

    async def window(size: int) -> list[str]:
        rows = await Message.history_window(services.database, grandchild, run.id, size)
        return [row["content"] for row in rows]

    assert await window(50) == ["r1", "r2", "r3", "r4", "c5", "g6"]
    assert await window(3) == ["r4", "c5", "g6"]
    assert await window(1) == ["g6"]
