"""The run lifecycle: every transition of a run, written once.

    queued ──take_lease──▶ running ──finish──▶ completed
      │  ▲                  │  │ └──fail────▶ failed
      │  └─promote_next     │  └──interrupt─▶ interrupted   (shutdown, lapsed lease)
      │    (gets the slot)  park / wait_for_client
      │                     ▼
      │              waiting_approval ──take_lease (once decided)──▶ running
      │              waiting_for_client ──take_lease (once answered or expired)──▶ running
      └──────── cancel (from queued, running or waiting) ──────────▶ cancelled

Each transition is one conditional statement on the run row (the `Run`
model's named queries) and reports whether it won, so concurrent actors (two
processes, a cancel racing a finish, the sweeper) never both succeed. A run
that ends logs its terminal event (`done` or `error`) in the same
transaction as its final status when this process drives it (finish, fail);
cancel and interrupt stop a run that may be driven elsewhere, so they set the
status (closing what the run left open) first, and log the end with `log_end`
once the run's task is stopped (the sweeper repeats `log_end` for any end a
dying process never logged).

Whoever logs the end also leaves the history whole, in the same transaction:
every tool call of the run still without a tool message gets one (the
recorded outcome if the tool ran, else why it did not), with its
`tool_result` event, and a reply cut short is logged as a `message` event
holding its stored text, so the last event before the end shows what the
history keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import ErrorCode
from models import (
    AppendRequest,
    Approval,
    EventType,
    Message,
    MessageDraft,
    MessageStatus,
    Run,
    RunEvent,
    RunStatus,
    ToolCall,
)
from models.locks import lock_in_id_order
from services.events import EventDraft, EventLog, StoredEvent
from services.events.payloads import message_data, run_data
from services.runs.answers import answer, not_run_reason, recorded_outcome


class _StoredByAnother(Exception):
    """The run's input message was stored by a concurrent request with the same client id."""


class RunLifecycle:
    """Move runs between states; `owner` names this process in the leases it takes."""

    def __init__(self, database: Database, events: EventLog, lease_seconds: float) -> None:
        self._database = database
        self._events = events
        self.owner = f"terrapin-{uuid4().hex[:12]}"
        self.lease = timedelta(seconds=lease_seconds)

    async def queue(
        self,
        session_id: UUID,
        agent: str,
        draft: MessageDraft,
        *,
        take_slot: bool,
        admit: Callable[[Run], Awaitable[None]] | None = None,
        agent_version: int = 0,
        agent_config_id: UUID | None = None,
    ) -> tuple[Run, list[StoredEvent]] | None:
        """Insert a run with its input message and first events, in one transaction.

        With `take_slot` the run holds its session's slot from the start.
        `admit` runs last in the transaction, given the new run, and may
        refuse it by raising (nothing is written then). None, and nothing
        written, if another run holds the slot or a concurrent retry stored
        this client_message_id first (the caller tells the two apart). The events
        are published by the caller. The run records its agent version (0 and
        no row: the built-in agent).
        """
        # The message's id is chosen here, so the run row names its input message
        # when it is inserted (no second UPDATE of the row).
        message_id = draft.id or uuid4()
        try:
            async with in_transaction():
                run = await Run.queue(
                    session_id,
                    agent,
                    message_id,
                    take_slot=take_slot,
                    agent_version=agent_version,
                    agent_config_id=agent_config_id,
                )
                request = AppendRequest(session_id, _with_run(draft, run.id, message_id))
                outcome = (await Message.append(self._database, [request], utcnow()))[0]
                if isinstance(outcome, BaseException):
                    raise outcome
                if not outcome.created:
                    raise _StoredByAnother  # roll back this run: the retry has its own
                message = outcome.message
                stored = await self._events.append_in_transaction(
                    [
                        EventDraft(run.id, EventType.RUN, run_data(run, RunStatus.QUEUED)),
                        EventDraft(run.id, EventType.MESSAGE, message_data(message)),
                    ]
                )
                if admit is not None:
                    await admit(run)
        except (IntegrityError, _StoredByAnother):
            # The unique active_session_id (the slot is held) or the unique
            # client_message_id (a concurrent retry committed first).
            return None
        return run, [event for event in stored if isinstance(event, StoredEvent)]

    async def queue_answer(
        self,
        session_id: UUID,
        agent: str,
        input_message_id: UUID,
        *,
        take_slot: bool,
        admit: Callable[[Run], Awaitable[None]] | None = None,
        agent_version: int = 0,
        agent_config_id: UUID | None = None,
    ) -> tuple[Run, list[StoredEvent]] | None:
        """Insert a run that answers a message already stored, with its `run` event.

        As `queue`, without appending a message: None if the slot is held.
        """
        try:
            async with in_transaction():
                run = await Run.queue(
                    session_id,
                    agent,
                    input_message_id,
                    take_slot=take_slot,
                    agent_version=agent_version,
                    agent_config_id=agent_config_id,
                )
                stored = await self._events.append_in_transaction(
                    [EventDraft(run.id, EventType.RUN, run_data(run, RunStatus.QUEUED))]
                )
                if admit is not None:
                    await admit(run)
        except IntegrityError:
            return None  # the session's slot is held (the unique active_session_id)
        return run, [event for event in stored if isinstance(event, StoredEvent)]

    async def promote_next(self, session_id: UUID) -> UUID | None:
        """Give a free session's slot to its oldest waiting run; return that run."""
        waiting = await Run.oldest_waiting_for_slot(self._database, session_id)
        if waiting is None or not await Run.give_slot(self._database, waiting, utcnow()):
            return None
        return waiting

    async def take_lease(self, run_id: UUID) -> Run | None:
        """Start or resume a startable run here (see `Run.take_lease`); None if not startable."""
        now = utcnow()
        return await Run.take_lease(self._database, run_id, self.owner, now, now + self.lease)

    async def renew_lease(self, run_id: UUID) -> bool:
        """Extend this process's lease on a running run; False if the run was taken away."""
        now = utcnow()
        return await Run.renew_lease(self._database, run_id, self.owner, now, now + self.lease)

    async def park(self, run_id: UUID) -> bool:
        """Let a running run wait for an approval (the lease is given up, the slot kept)."""
        return await Run.park(self._database, run_id, self.owner, utcnow())

    async def wait_for_client(self, run_id: UUID) -> bool:
        """Let a running run wait for a client tool's result (lease given up, slot kept)."""
        return await Run.park_for_client(self._database, run_id, self.owner, utcnow())

    async def finish(self, run: Run) -> bool:
        """Complete a run this process drives, logging `done` in the same transaction."""
        return await self._end_here(run, RunStatus.COMPLETED, None)

    async def fail(self, run: Run, code: str, message: str) -> bool:
        """Fail a run this process drives, logging `error` in the same transaction."""
        return await self._end_here(run, RunStatus.FAILED, f"{code}: {message}")

    async def cancel(self, run_id: UUID) -> bool:
        """Cancel a queued, running or waiting run, whoever drives it (then `log_end`)."""
        return await self._stop(run_id, RunStatus.CANCELLED, None)

    async def interrupt(self, run_id: UUID, reason: str) -> bool:
        """Interrupt a running run, whoever drives it (then `log_end`)."""
        return await self._stop(run_id, RunStatus.INTERRUPTED, reason)

    async def _stop(self, run_id: UUID, status: RunStatus, error: str | None) -> bool:
        # What the stop closes (streaming text, pending decisions, started calls)
        # commits with the status: nobody reads a stopped run with open parts.
        async with in_transaction():
            won = await Run.stop(self._database, run_id, status, error, utcnow())
            if won:
                await _tidy_stopped(run_id, status)
        return won

    async def log_end(self, run_id: UUID) -> Run:
        """Tidy up a stopped run and log its terminal event, in one transaction.

        Idempotent: a log that already ended stays as it is.
        """
        async with in_transaction():
            # The run row first, as every writer of a run's events locks it:
            # locking a message first could deadlock with the event writer.
            await lock_in_id_order(self._database, Run, [run_id])
            run = await Run.get(id=run_id)
            # Again: the stopped task may have left something open since the stop.
            await _tidy_stopped(run.id, run.status)
            if await RunEvent.ended_runs(self._database, [run.id]):
                return run  # logged already (by a racing repair): nothing may follow the end
            drafts = await self._closing_events(run, run.status)
            drafts.append(end_event(run, run.status, run.error))
            stored = await self._events.append_in_transaction(drafts, runs_locked=True)
        self._events.publish(stored)
        return run

    async def answer_open_calls(self, run_id: UUID) -> int:
        """Answer the calls an ended run left without a tool message; return how many.

        For runs that ended before every end answered its calls: their log is
        closed, so only the tool messages are written.
        """
        async with in_transaction():
            await lock_in_id_order(self._database, Run, [run_id])
            run = await Run.get(id=run_id)
            if not run.status.is_terminal:
                return 0
            await _tidy_stopped(run.id, run.status)
            calls = await ToolCall.unanswered(self._database, run.id)
            for call in calls:
                await answer(self._database, run, call, recorded_outcome(call))
        return len(calls)

    async def _end_here(self, run: Run, status: RunStatus, error: str | None) -> bool:
        # The status and the end event commit together: a process dying between
        # two commits would leave a finished run whose followers wait forever.
        async with in_transaction():
            now = utcnow()
            won = await Run.release(self._database, run.id, self.owner, status, error, now)
            if not won:
                return False
            # The won release locked the run row (its UPDATE): the end is logged under it.
            if status is not RunStatus.COMPLETED:
                await _tidy_stopped(run.id, status)
            drafts = await self._closing_events(run, status)
            drafts.append(end_event(run, status, error))
            stored = await self._events.append_in_transaction(drafts, runs_locked=True)
        self._events.publish(stored)
        return True

    async def _closing_events(self, run: Run, status: RunStatus) -> list[EventDraft]:
        """Answer the run's open calls, show its reply cut short: the events before its end.

        Inside the transaction that logs the end, under the run's row lock.
        """
        drafts = [
            await answer(self._database, run, call, recorded_outcome(call))
            for call in await ToolCall.unanswered(self._database, run.id)
        ]
        if status is not RunStatus.COMPLETED:
            # The streamed deltas may lack the text stored when the run's task stopped.
            cut_short = await Message.cut_short(run.id)
            if cut_short is not None:
                drafts.append(EventDraft(run.id, EventType.MESSAGE, message_data(cut_short)))
        return drafts


async def _tidy_stopped(run_id: UUID, status: RunStatus) -> None:
    """Close what a stopped run leaves open: streaming text, pending decisions, unsettled calls.

    A call not started yet never runs (no process may claim it any more); a
    started one may have taken effect and is in doubt.
    """
    now = utcnow()
    cancelled = status is RunStatus.CANCELLED
    cut_short = MessageStatus.CANCELLED if cancelled else MessageStatus.INTERRUPTED
    await Message.close_streaming(run_id, cut_short, now)
    await Approval.cancel_pending(run_id, now)
    await ToolCall.reject_unstarted(run_id, not_run_reason(status), now)
    await ToolCall.mark_in_doubt(now, run_id=run_id)


def end_event(run: Run, status: RunStatus, error: str | None = None) -> EventDraft:
    """A run's terminal event: `error` (code and message) if it failed, else `done`."""
    # `error` reads "code: message", as `fail` stores it in the run row.
    if status is RunStatus.FAILED:
        code, _, message = str(error or "").partition(": ")
        data = {
            **run_data(run, status),
            "code": code or ErrorCode.INTERNAL_ERROR,
            "message": message,
        }
        return EventDraft(run.id, EventType.ERROR, data)
    return EventDraft(run.id, EventType.DONE, run_data(run, status))


def _with_run(draft: MessageDraft, run_id: UUID, message_id: UUID) -> MessageDraft:
    return MessageDraft(
        role=draft.role,
        content=draft.content,
        client_message_id=draft.client_message_id,
        metadata=draft.metadata,
        run_id=run_id,
        id=message_id,
    )
