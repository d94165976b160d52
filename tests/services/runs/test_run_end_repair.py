"""A run's log ends exactly once, and the sweeper logs an end that was never written."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import httpx

from core.clock import utcnow
from models import EventType, Message, MessageRole, MessageStatus, Run, RunEvent, RunStatus
from services import Services
from services.events import EventDraft, RunAlreadyEnded
from tests.factories import make_user


async def _finished_run(client: httpx.AsyncClient, services: Services) -> UUID:
    headers = await make_user(services)
    turn = await client.post("/api/v1/agent/message", json={"message": "hi"}, headers=headers)
    assert turn.status_code == 200, turn.text
    return UUID(turn.json()["run"]["id"])


async def test_a_second_terminal_event_is_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    run_id = await _finished_run(client, services)
    before = await RunEvent.filter(run_id=run_id).count()
    outcomes = await services.events.write(
        [
            EventDraft(run_id, EventType.DONE, {"status": "cancelled"}),
            EventDraft(run_id, EventType.ERROR, {"code": "x"}),
        ]
    )
    assert all(isinstance(outcome, RunAlreadyEnded) for outcome in outcomes)
    assert await RunEvent.filter(run_id=run_id).count() == before


async def test_the_sweeper_logs_the_end_of_a_run_whose_end_was_never_logged(
    client: httpx.AsyncClient, services: Services
) -> None:
    run_id = await _finished_run(client, services)
    # As if the process stopped between a cancel's status update and its `done` event.
    await RunEvent.filter(run_id=run_id, type="done").delete()
    await Run.filter(id=run_id).update(
        status=RunStatus.CANCELLED, finished_at=utcnow() - timedelta(minutes=5)
    )
    await services.sweeper.sweep()
    ends = await RunEvent.filter(run_id=run_id, type__in=["done", "error"]).values_list(
        "type", "data"
    )
    assert [(kind, data["status"]) for kind, data in ends] == [("done", "cancelled")]
    events = [event async for event in services.events.follow(run_id, 0)]
    assert events[-1].type == "done"
    assert services.sweeper.actions["ended"] == 1

    await services.sweeper.sweep()  # nothing left to repair
    assert services.sweeper.actions["ended"] == 1


async def test_the_repair_also_tidies_up_what_the_lost_commit_would_have(
    client: httpx.AsyncClient, services: Services
) -> None:
    run_id = await _finished_run(client, services)
    await RunEvent.filter(run_id=run_id, type="done").delete()
    message = await Message.filter(run_id=run_id, role=MessageRole.ASSISTANT).first()
    assert message is not None
    await Message.filter(id=message.id).update(status=MessageStatus.STREAMING)
    await Run.filter(id=run_id).update(
        status=RunStatus.INTERRUPTED, finished_at=utcnow() - timedelta(minutes=5)
    )
    await services.sweeper.sweep()
    assert (await Message.get(id=message.id)).status is MessageStatus.INTERRUPTED
    done = await RunEvent.get(run_id=run_id, type="done")
    assert done.data["status"] == "interrupted"


async def test_a_failed_run_ends_with_an_error_event_carrying_its_code(
    client: httpx.AsyncClient, services: Services
) -> None:
    run_id = await _finished_run(client, services)
    await RunEvent.filter(run_id=run_id, type="done").delete()
    await Run.filter(id=run_id).update(
        status=RunStatus.FAILED, error="provider_timeout: The model did not answer in time"
    )
    await services.lifecycle.log_end(run_id)
    error = await RunEvent.get(run_id=run_id, type="error")
    assert error.data["code"] == "provider_timeout"
    assert error.data["message"] == "The model did not answer in time"


async def test_a_run_that_just_ended_is_left_to_whoever_ended_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    run_id = await _finished_run(client, services)
    await RunEvent.filter(run_id=run_id, type="done").delete()
    await Run.filter(id=run_id).update(status=RunStatus.CANCELLED, finished_at=utcnow())
    await services.sweeper.sweep()
    assert not await RunEvent.filter(run_id=run_id, type="done").exists()
