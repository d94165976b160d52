"""What a run sees of its session's history."""

from __future__ import annotations

import uuid

import httpx

from models import AppendRequest, Message, MessageRole, Run, RunStatus
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
