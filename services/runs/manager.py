"""RunManager: start agent runs (one active per session), read, await and cancel them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from core.database import Database
from core.errors import Conflict, ErrorCode, NotFound, ServiceUnavailable
from models import (
    TERMINAL_EVENT_TYPES,
    Approval,
    ChatSession,
    EventType,
    Message,
    MessageDraft,
    MessageRole,
    Run,
    SessionStatus,
    ToolCall,
)
from models.messages import replay
from services.agents import AgentManager
from services.auth import Caller
from services.events import EventLog, StoredEvent
from services.runs.caps import RunCaps
from services.runs.executor import RunExecutor
from services.runs.lifecycle import RunLifecycle
from services.sessions import SessionManager


class OnBusy(StrEnum):
    """What to do when the session already has an active run."""

    REJECT = "reject"
    ENQUEUE = "enqueue"


@dataclass(frozen=True, slots=True)
class RunTurn:
    """A run as far as it got: finished, failed, or waiting for an approval or the client."""

    run: Run
    messages: list[Message]
    approval: Approval | None
    client_tool_call: ToolCall | None = None


class RunManager:
    """The entry points of agent runs."""

    def __init__(
        self,
        database: Database,
        sessions: SessionManager,
        events: EventLog,
        lifecycle: RunLifecycle,
        executor: RunExecutor,
        agents: AgentManager,
        max_title_chars: int,
        caps: RunCaps,
    ) -> None:
        self._database = database
        self._caps = caps
        # A session created by its first message is titled by that message's first line.
        self._title_chars = min(max_title_chars, 80)
        self._sessions = sessions
        self._events = events
        self._lifecycle = lifecycle
        self._executor = executor
        self._agents = agents

    async def get(self, caller: Caller, run_id: UUID, *, write: bool = False) -> Run:
        """Load a run the caller may see, or 404."""
        # A deleted session's runs are hidden with it (kept only while a fork shares its messages).
        live = Run.filter(session__deleted_at__isnull=True)
        run = await caller.scope(live, "session__owner_id", write=write).get_or_none(id=run_id)
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
        """Commit the user's message and a new run, then schedule the run.

        Refused with 429 when the caller is at a per-user cap (see `RunCaps`).
        """
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
        take_slot = on_busy is OnBusy.REJECT
        if take_slot and await Run.has_run_waiting_for_slot(self._database, session.id):
            raise await self._busy(session.id)
        admit = functools.partial(
            self._caps.admit, self._database, caller.user_id, take_slot=take_slot
        )
        choice = await self._agents.for_run(session)
        queued = await self._lifecycle.queue(
            session.id,
            choice.name,
            draft,
            take_slot=take_slot,
            admit=admit,
            agent_version=choice.version,
            agent_config_id=choice.config_id,
        )
        if queued is None:  # the slot is held, or a concurrent retry stored the message first
            earlier = await self._replay(session, draft) if client_message_id else None
            if earlier is not None:
                return earlier
            raise await self._busy(session.id)
        return await self._launch(session.id, *queued)

    async def answer(self, caller: Caller, *, session_id: UUID, on_busy: OnBusy) -> Run:
        """Start a run that answers the session's history as it stands (no new message).

        The history must end with a user message (after an edit or a
        regenerate, say): that message is the run's input.
        """
        if not self._executor.accepting:
            raise ServiceUnavailable("The server is shutting down.", code=ErrorCode.SHUTTING_DOWN)
        session = await self._session_for(caller, session_id, "", None)
        last = await Message.at_seq(self._database, session, session.message_count)
        if last is None or last.role is not MessageRole.USER:
            raise Conflict(
                "The history does not end with a user message: there is nothing to answer.",
                code=ErrorCode.NOTHING_TO_ANSWER,
            )
        take_slot = on_busy is OnBusy.REJECT
        if take_slot and await Run.has_run_waiting_for_slot(self._database, session.id):
            raise await self._busy(session.id)
        admit = functools.partial(
            self._caps.admit, self._database, caller.user_id, take_slot=take_slot
        )
        choice = await self._agents.for_run(session)
        queued = await self._lifecycle.queue_answer(
            session.id,
            choice.name,
            last.id,
            take_slot=take_slot,
            admit=admit,
            agent_version=choice.version,
            agent_config_id=choice.config_id,
        )
        if queued is None:
            raise await self._busy(session.id)
        return await self._launch(session.id, *queued)

    async def stop_session_runs(self, session_id: UUID) -> None:
        """Cancel every live run of a session (before it is deleted)."""
        for run_id in await Run.live_ids(session_id):
            await self._executor.cancel(run_id)

    async def _launch(self, session_id: UUID, run: Run, stored: list[StoredEvent]) -> Run:
        """Publish a queued run's first events and drive it, or queue it behind the slot holder."""
        self._events.publish(stored)
        if run.active_session_id is not None:
            self._executor.schedule(run.id)
        else:
            await self._executor.promote(session_id)
        return run

    async def wait_for_turn(self, run: Run) -> RunTurn:
        """Follow a run until it ends or waits for someone; return how far it got."""
        approval, call = None, None
        async for event in self._events.follow(run.id, 0):
            if event.type in TERMINAL_EVENT_TYPES:
                break
            # A replayed request reads past approvals and client calls settled since.
            if event.type == EventType.APPROVAL_REQUIRED:
                approval = await Approval.pending_for_run(run.id)
                if approval is not None:
                    break
            if event.type == EventType.CLIENT_TOOL_CALL:
                call = await ToolCall.awaiting_client(run.id)
                if call is not None:
                    break
        return RunTurn(
            run=await Run.get(id=run.id),
            messages=await Message.of_run(run.id),
            approval=approval,
            client_tool_call=call,
        )

    async def cancel(self, run: Run) -> Run:
        """Cancel a queued, running or waiting run; its partial text is kept."""
        cancelled = await self._executor.cancel(run.id)
        if cancelled is None:
            current = await Run.get(id=run.id)
            raise Conflict(
                f"The run is already {current.status}.",
                code=ErrorCode.RUN_NOT_CANCELLABLE,
                data={"run_status": str(current.status)},
            )
        return await Run.get(id=cancelled.id)  # as it ended: its end event is now logged

    async def _session_for(
        self, caller: Caller, session_id: UUID | None, message: str, agent: str | None
    ) -> ChatSession:
        if session_id is None:
            first_line = message.strip().splitlines()[0] if message.strip() else ""
            title = first_line[: self._title_chars]
            return await self._sessions.create(
                caller, title=title, agent=agent or "default", metadata={}
            )
        session = await self._sessions.get(caller, session_id, write=True)
        if session.status is SessionStatus.ARCHIVED:
            raise Conflict("The session is archived.", code=ErrorCode.SESSION_ARCHIVED)
        return session

    async def _replay(self, session: ChatSession, draft: MessageDraft) -> Run | None:
        """A retried request (same client_message_id) gets the run it started."""
        assert draft.client_message_id is not None
        earlier = await Message.with_client_id(session.id, draft.client_message_id)
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

    async def _busy(self, session_id: UUID) -> Conflict:
        active = await Run.blocking(session_id)
        return Conflict(
            "The session already has an active run.",
            code=ErrorCode.SESSION_BUSY,
            data={"run_id": str(active.id) if active else None},
        )
