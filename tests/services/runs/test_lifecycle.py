"""Every run and tool-call transition is one conditional update that moves `updated_at`."""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID

import httpx

from core.clock import utcnow
from models import MessageDraft, MessageRole, Run, RunStatus, ToolCall, ToolCallStatus
from services import Services
from tests.factories import make_session, make_user


async def _updated_at(run_id: UUID) -> datetime:
    await asyncio.sleep(0.002)  # the next transition happens strictly later
    return (await Run.get(id=run_id)).updated_at


async def _queued_run(client: httpx.AsyncClient, services: Services, *, take_slot: bool) -> Run:
    headers = await make_user(services)
    session_id = UUID((await make_session(client, headers))["id"])
    draft = MessageDraft(role=MessageRole.USER, content="hi")
    queued = await services.lifecycle.queue(session_id, "default", draft, take_slot=take_slot)
    assert queued is not None
    return queued[0]


async def test_updated_at_moves_on_every_run_transition(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.executor.drive_here = False  # the test drives the transitions itself
    lifecycle = services.lifecycle
    run = await _queued_run(client, services, take_slot=False)
    before = await _updated_at(run.id)

    assert await lifecycle.promote_next(run.session_id) == run.id
    assert (after := await _updated_at(run.id)) > before
    leased = await lifecycle.take_lease(run.id)
    assert leased is not None and leased.status is RunStatus.RUNNING
    assert leased.updated_at > after
    before = await _updated_at(run.id)
    assert await lifecycle.renew_lease(run.id)
    assert (after := await _updated_at(run.id)) > before
    assert await lifecycle.park(run.id)
    assert (before := await _updated_at(run.id)) > after
    assert (await Run.get(id=run.id)).status is RunStatus.WAITING_APPROVAL
    assert await lifecycle.take_lease(run.id) is not None
    assert (after := await _updated_at(run.id)) > before
    assert await lifecycle.finish(run)
    finished = await Run.get(id=run.id)
    assert finished.status is RunStatus.COMPLETED and finished.updated_at > after
    assert finished.active_session_id is None and finished.lease_owner is None


async def test_a_lost_transition_changes_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.executor.drive_here = False
    lifecycle = services.lifecycle
    run = await _queued_run(client, services, take_slot=True)
    assert await lifecycle.cancel(run.id)
    before = await _updated_at(run.id)
    assert not await lifecycle.cancel(run.id)
    assert not await lifecycle.interrupt(run.id, "too late")
    assert await lifecycle.take_lease(run.id) is None
    assert not await lifecycle.finish(run)
    after = await Run.get(id=run.id)
    assert after.status is RunStatus.CANCELLED and after.updated_at == before


async def test_updated_at_moves_on_cancel_and_interrupt(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.executor.drive_here = False
    lifecycle = services.lifecycle
    run = await _queued_run(client, services, take_slot=True)
    before = await _updated_at(run.id)
    assert await lifecycle.cancel(run.id)
    assert await _updated_at(run.id) > before

    other = await _queued_run(client, services, take_slot=True)
    assert await lifecycle.take_lease(other.id) is not None
    before = await _updated_at(other.id)
    assert await lifecycle.interrupt(other.id, "stopped")
    interrupted = await Run.get(id=other.id)
    assert interrupted.status is RunStatus.INTERRUPTED and interrupted.updated_at > before


async def _call_updated_at(call_id: UUID) -> datetime:
    await asyncio.sleep(0.002)
    return (await ToolCall.get(id=call_id)).updated_at


async def test_updated_at_moves_on_every_tool_call_transition(
    client: httpx.AsyncClient, services: Services
) -> None:
    services.executor.drive_here = False
    run = await _queued_run(client, services, take_slot=True)

    async def call(status: ToolCallStatus, call_id: str) -> ToolCall:
        return await ToolCall.create(run_id=run.id, call_id=call_id, tool="clock", status=status)

    proposed = await call(ToolCallStatus.PROPOSED, "a")
    before = await _call_updated_at(proposed.id)
    assert await ToolCall.decide(proposed.id, ToolCallStatus.APPROVED, utcnow())
    assert (after := await _call_updated_at(proposed.id)) > before
    assert await ToolCall.claim(proposed.id, utcnow())
    assert (before := await _call_updated_at(proposed.id)) > after
    await ToolCall.record_outcome(proposed.id, True, {"now": "x"}, None, utcnow())
    done = await ToolCall.get(id=proposed.id)
    assert done.status is ToolCallStatus.SUCCEEDED and done.updated_at > before

    started = await call(ToolCallStatus.STARTED, "b")
    before = await _call_updated_at(started.id)
    await ToolCall.mark_in_doubt(utcnow(), run_id=run.id)
    in_doubt = await ToolCall.get(id=started.id)
    assert in_doubt.status is ToolCallStatus.IN_DOUBT and in_doubt.updated_at > before

    waiting = await call(ToolCallStatus.PROPOSED, "c")
    before = await _call_updated_at(waiting.id)
    await ToolCall.reject_unstarted(run.id, "cancelled", utcnow())
    rejected = await ToolCall.get(id=waiting.id)
    assert rejected.status is ToolCallStatus.REJECTED and rejected.updated_at > before
