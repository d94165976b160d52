"""RunManager: start agent runs (one active per session), read and cancel them."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import (
    Message,
    MessageRole,
    Run,
    RunStatus,
    SessionStatus,
)
from project.errors import Conflict, ErrorCode, NotFound, ServiceUnavailable
from services.clock import utcnow
from services.events import EventDraft, EventLog, append_events_in_transaction
from services.hitl import HITLManager
from services.message_writer import AppendRequest, MessageDraft, append_in_transaction, replay
from services.raw_sql import fetch_rows
from services.run_executor import RunExecutor
from services.serializers import message_data, run_data
from services.session_records import SessionRef
from services.sessions import SessionManager
from services.stream_hub import StoredEvent
from services.users import Caller

CANCELLABLE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING_APPROVAL)
# A queued run already waits for the session's slot (asked before every start).
_WAITING_RUN_SQL = (
    f"SELECT 1 FROM run WHERE session_id = $1 AND status = '{RunStatus.QUEUED}' "
    "AND active_session_id IS NULL LIMIT 1"
)


class OnBusy(StrEnum):
    """What to do when the session already has an active run."""

    REJECT = "reject"
    ENQUEUE = "enqueue"


class RunManager:
    """The entry points of agent runs."""

    def __init__(
        self,
        sessions: SessionManager,
        events: EventLog,
        executor: RunExecutor,
        hitl: HITLManager,
    ) -> None:
        self._sessions = sessions
        self._events = events
        self._executor = executor
        self._hitl = hitl

    async def get(self, caller: Caller, run_id: UUID, *, write: bool = False) -> Run:
        """Load a run the caller may see, or 404."""
        run = await caller.scope(Run.all(), "session__owner_id", write=write).get_or_none(id=run_id)
        if run is None:
            raise NotFound("Run not found.", code=ErrorCode.RUN_NOT_FOUND)
        return run

    async def start(
        self,
        caller: Caller,
        *,
        session_id: UUID | None,
        message: str,
        agent: str | None,
        client_message_id: str | None,
        on_busy: OnBusy,
    ) -> Run:
        """Commit the user's message and a new run, then schedule the run."""
        if not self._executor.accepting:
            raise ServiceUnavailable("The server is shutting down.", code=ErrorCode.SHUTTING_DOWN)
        session = await self._session_for(caller, session_id, message, agent)
        draft = MessageDraft(
            role=MessageRole.USER, content=message, client_message_id=client_message_id
        )
        if client_message_id is not None:
            earlier = await self._replay(session, draft)
            if earlier is not None:
                return earlier
        run, stored = await self._create(session, draft, on_busy)
        self._events.publish(stored)
        if run.active_session_id is not None:
            self._executor.schedule(run.id)
        else:
            await self._executor.promote(session.id)
        return run

    async def cancel(self, run: Run) -> Run:
        """Cancel a queued, running or waiting run; its partial text is kept."""
        won = await Run.filter(id=run.id, status__in=CANCELLABLE).update(
            status=RunStatus.CANCELLED,
            active_session_id=None,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=utcnow(),
        )
        if not won:
            current = await Run.get(id=run.id)
            raise Conflict(
                f"The run is already {current.status}.",
                code=ErrorCode.RUN_NOT_CANCELLABLE,
                data={"run_status": str(current.status)},
            )
        await self._executor.stop_local(run.id)  # before the end is logged: no event after it
        cancelled = await self._executor.log_end(run.id)
        await self._executor.promote(cancelled.session_id)  # type: ignore[attr-defined]
        return cancelled

    async def _session_for(
        self, caller: Caller, session_id: UUID | None, message: str, agent: str | None
    ) -> SessionRef:
        if session_id is None:
            title = message.strip().splitlines()[0][:80] if message.strip() else ""
            return await self._sessions.create(
                caller, title=title, agent=agent or "default", metadata={}
            )
        session = await self._sessions.get(caller, session_id, write=True)
        if session.status is SessionStatus.ARCHIVED:
            raise Conflict("The session is archived.", code=ErrorCode.SESSION_ARCHIVED)
        return session

    async def _replay(self, session: SessionRef, draft: MessageDraft) -> Run | None:
        """A retried request (same client_message_id) gets the run it started."""
        earlier = await Message.get_or_none(
            session_id=session.id, client_message_id=draft.client_message_id
        )
        if earlier is None:
            return None
        outcome = replay(earlier, draft)
        if isinstance(outcome, BaseException):
            raise outcome
        run_id = earlier.run_id  # type: ignore[attr-defined]
        if run_id is None:
            raise Conflict(
                "This client_message_id belongs to a message without a run.",
                code=ErrorCode.IDEMPOTENCY_CONFLICT,
            )
        return await Run.get(id=run_id)

    async def _create(
        self, session: SessionRef, draft: MessageDraft, on_busy: OnBusy
    ) -> tuple[Run, list[StoredEvent]]:
        """Insert the run (taking the session's slot when rejecting) and its first events."""
        take_slot = on_busy is OnBusy.REJECT
        if take_slot and await fetch_rows(_WAITING_RUN_SQL, session.id):
            raise await self._busy(session.id)
        # The message's id is chosen here, so the run row names its input message
        # when it is inserted (no second UPDATE of the row).
        message_id = uuid4()
        try:
            async with in_transaction():
                run = await Run.create(
                    session_id=session.id,
                    agent=session.agent,
                    status=RunStatus.QUEUED,
                    active_session_id=session.id if take_slot else None,
                    input_message_id=message_id,
                )
                outcome = (
                    await append_in_transaction(
                        [AppendRequest(session.id, _with_run(draft, run.id, message_id))]
                    )
                )[0]
                if isinstance(outcome, BaseException):
                    raise outcome
                message = outcome.message
                if message.id != message_id:  # an earlier message with this client_message_id
                    await Run.filter(id=run.id).update(input_message_id=message.id)
                stored = await append_events_in_transaction(
                    [
                        EventDraft(run.id, "run", run_data(run, RunStatus.QUEUED)),
                        EventDraft(run.id, "message", message_data(message)),
                    ],
                    origin=self._events.origin,
                )
        except IntegrityError:
            raise await self._busy(session.id) from None
        return run, [event for event in stored if isinstance(event, StoredEvent)]

    async def _busy(self, session_id: UUID) -> Conflict:
        active = await Run.filter(session_id=session_id, active_session_id=session_id).first()
        if active is None:
            active = await Run.filter(session_id=session_id, status=RunStatus.QUEUED).first()
        return Conflict(
            "The session already has an active run.",
            code=ErrorCode.SESSION_BUSY,
            data={"run_id": str(active.id) if active else None},
        )


def _with_run(draft: MessageDraft, run_id: UUID, message_id: UUID) -> MessageDraft:
    return MessageDraft(
        role=draft.role,
        content=draft.content,
        client_message_id=draft.client_message_id,
        metadata=draft.metadata,
        run_id=run_id,
        id=message_id,
    )
