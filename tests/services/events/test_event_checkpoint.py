"""A delta event and its message's text checkpoint are committed together."""

from __future__ import annotations

import uuid

from models import ChatSession, EventType, Message, MessageRole, MessageStatus, Run, RunEvent, User
from services import Services
from services.events import EventDraft, TextCheckpoint


async def _streaming_message(run: Run) -> Message:
    return await Message.create(
        session_id=run.session_id,
        seq=1,
        role=MessageRole.ASSISTANT,
        content="",
        status=MessageStatus.STREAMING,
        run_id=run.id,
    )


async def _run() -> Run:
    user = await User.create(username="owner")
    session = await ChatSession.create(owner=user, title="t")
    return await Run.create(session=session)


async def test_the_latest_checkpoint_of_a_batch_is_stored_with_its_events(
    services: Services,
) -> None:
    run = await _run()
    message = await _streaming_message(run)
    drafts = [
        EventDraft(run.id, EventType.DELTA, {"text": "Echo:"}, TextCheckpoint(message.id, "Echo:")),
        EventDraft(
            run.id, EventType.DELTA, {"text": " hi"}, TextCheckpoint(message.id, "Echo: hi")
        ),
    ]
    outcomes = await services.events.write(drafts)
    assert [getattr(outcome, "seq", None) for outcome in outcomes] == [1, 2]
    assert (await Message.get(id=message.id)).content == "Echo: hi"
    assert await RunEvent.filter(run_id=run.id).count() == 2


async def test_a_checkpoint_whose_event_is_refused_is_not_stored(services: Services) -> None:
    run = await _run()
    message = await _streaming_message(run)
    missing_run = uuid.uuid4()
    outcomes = await services.events.write(
        [
            EventDraft(
                missing_run, EventType.DELTA, {"text": "x"}, TextCheckpoint(message.id, "lost")
            )
        ]
    )
    assert isinstance(outcomes[0], BaseException)
    assert (await Message.get(id=message.id)).content == ""
