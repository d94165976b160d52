"""A run waiting for the client resumes only once its call is answered, expired or cancelled."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx

from core.clock import utcnow
from models import MessageDraft, MessageRole, Run, RunStatus, ToolCall, ToolCallStatus
from services import Services
from tests.factories import make_session, make_user


async def _waiting_run(client: httpx.AsyncClient, services: Services) -> tuple[Run, ToolCall]:
    """A run parked `waiting_for_client` on one client call (the test drives it)."""
    services.executor.drive_here = False
    headers = await make_user(services)
    session_id = UUID((await make_session(client, headers))["id"])
    draft = MessageDraft(role=MessageRole.USER, content="where am I?")
    queued = await services.lifecycle.queue(session_id, "default", draft, take_slot=True)
    assert queued is not None
    run = queued[0]
    assert await services.lifecycle.take_lease(run.id) is not None
    call = await ToolCall.create(
        run_id=run.id,
        call_id="call_1",
        tool="get_location",
        status=ToolCallStatus.AWAITING_CLIENT,
        expires_at=utcnow() + timedelta(hours=1),
    )
    assert await services.lifecycle.wait_for_client(run.id)
    assert (await Run.get(id=run.id)).status is RunStatus.WAITING_FOR_CLIENT
    return run, call


async def test_only_an_answer_makes_the_run_resumable(
    client: httpx.AsyncClient, services: Services
) -> None:
    run, call = await _waiting_run(client, services)
    database = services.database
    assert await services.lifecycle.take_lease(run.id) is None  # a stray wake-up changes nothing
    assert run.id not in await Run.resumable_ids(database)

    assert await ToolCall.answer(call.id, {"city": "Oslo"}, utcnow())
    assert not await ToolCall.answer(call.id, {"city": "Bergen"}, utcnow())  # the first wins
    assert not await ToolCall.give_up_on_client(call.id, "late", utcnow())
    answered = await ToolCall.get(id=call.id)
    assert (answered.status, answered.result) == (ToolCallStatus.SUCCEEDED, {"city": "Oslo"})

    # Whoever wakes it (this process, another, the sweeper) finds it startable.
    assert run.id in await Run.resumable_ids(database)
    resumed = await services.lifecycle.take_lease(run.id)
    assert resumed is not None and resumed.status is RunStatus.RUNNING


async def test_an_expired_wait_makes_the_run_resumable(
    client: httpx.AsyncClient, services: Services
) -> None:
    run, call = await _waiting_run(client, services)
    await ToolCall.filter(id=call.id).update(expires_at=utcnow() - timedelta(seconds=1))
    assert await services.clients.expire_due() == 1
    assert await services.clients.expire_due() == 0
    expired = await ToolCall.get(id=call.id)
    assert expired.status is ToolCallStatus.FAILED and expired.error
    assert run.id in await Run.resumable_ids(services.database)


async def test_cancel_closes_the_wait(client: httpx.AsyncClient, services: Services) -> None:
    run, call = await _waiting_run(client, services)
    assert await services.lifecycle.cancel(run.id)
    cancelled = await ToolCall.get(id=call.id)
    assert cancelled.status is ToolCallStatus.REJECTED
    assert not await ToolCall.answer(call.id, {"late": True}, utcnow())
    assert (await Run.get(id=run.id)).active_session_id is None
