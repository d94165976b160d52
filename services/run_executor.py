"""RunExecutor: drives runs in tasks the lifespan owns, under a database lease.

A run is driven by whichever process holds its lease; the lease is renewed by
a heartbeat and lapses if the process dies (the sweeper then interrupts the
run). Driving is resumable: each loop iteration re-reads what is persisted
(tool calls, decisions, messages) and takes the next step, so any process can
pick up a run that waits for an approval.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from datetime import timedelta
from enum import Enum
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from agent import AgentRunner
from models import (
    Approval,
    ApprovalStatus,
    MessageStatus,
    Run,
    RunStatus,
    ToolCall,
    ToolCallStatus,
)
from project.errors import UNAVAILABLE_ERRORS, ErrorCode
from project.settings import Settings
from services.assistant_stream import model_round
from services.clock import utcnow
from services.context import AgentContextManager
from services.events import EventDraft, EventLog, append_events_in_transaction
from services.hitl import HITLManager
from services.row_locks import lock_in_id_order
from services.run_rows import acquire_lease, oldest_waiting_run, release_run
from services.run_steps import (
    announce_approval,
    close_streaming_messages,
    mark_started_calls_in_doubt,
    open_tool_call,
    propose_tool_call,
    settle_tool_call,
)
from services.serializers import run_data
from services.stream_hub import StoredEvent

log = logging.getLogger("terrapin.runs")

MAX_STEPS = 64  # model rounds + tool settlements in one drive; a safety bound


class _Next(Enum):
    PARKED = "parked"
    DONE = "done"


class RunExecutor:
    """Start, resume, cancel and interrupt runs in this process."""

    def __init__(
        self,
        settings: Settings,
        events: EventLog,
        contexts: AgentContextManager,
        runner: AgentRunner,
        hitl: HITLManager | None = None,
    ) -> None:
        self.settings = settings
        self.events = events
        self.contexts = contexts
        self.runner = runner
        self.hitl: HITLManager | None = hitl
        self.owner = f"terrapin-{uuid.uuid4().hex[:12]}"
        self.accepting = True
        # False in shells and scripts: runs are left to the server's sweeper.
        self.drive_here = True
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._wake_again: set[UUID] = set()
        self._lease = timedelta(seconds=settings.run_lease_seconds)
        self._slots = asyncio.Semaphore(settings.max_concurrent_runs)

    @property
    def active(self) -> int:
        """Runs being driven in this process."""
        return len(self._tasks)

    def schedule(self, run_id: UUID) -> None:
        """Drive `run_id` here if nobody else does (no-op once shutting down)."""
        if not (self.accepting and self.drive_here):
            return
        if run_id in self._tasks:
            self._wake_again.add(run_id)
            return
        task = asyncio.create_task(self._drive(run_id), name=f"run-{run_id}")
        self._tasks[run_id] = task
        task.add_done_callback(functools.partial(self._on_done, run_id))

    def _on_done(self, run_id: UUID, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)
        if run_id in self._wake_again:
            self._wake_again.discard(run_id)
            self.schedule(run_id)

    async def stop_local(self, run_id: UUID) -> None:
        """Cancel this process's task for a run (if any) and wait for it."""
        task = self._tasks.get(run_id)
        self._wake_again.discard(run_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=10)

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop taking runs, let running ones finish within the grace, interrupt the rest."""
        self.accepting = False
        pending = [task for task in self._tasks.values() if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=grace_seconds)
        for run_id in list(self._tasks):
            await self.interrupt(run_id, reason="The server shut down during the run.")

    async def interrupt(self, run_id: UUID, reason: str) -> bool:
        """Mark a running run interrupted, stop its task, keep its partial text."""
        won = await Run.filter(id=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.INTERRUPTED,
            active_session_id=None,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=utcnow(),
            error=reason,
        )
        await self.stop_local(run_id)
        if not won:
            return False
        run = await self.log_end(run_id)
        await self.promote(run.session_id)  # type: ignore[attr-defined]
        return True

    async def promote(self, session_id: UUID) -> None:
        """Give a free session's slot to its oldest waiting queued run."""
        waiting = await oldest_waiting_run(session_id)
        if waiting is None:
            return
        try:
            won = await Run.filter(
                id=waiting, status=RunStatus.QUEUED, active_session_id__isnull=True
            ).update(active_session_id=session_id)
        except IntegrityError:
            return  # another run holds the session; it promotes when it ends
        if won:
            self.schedule(waiting)

    async def _drive(self, run_id: UUID) -> None:
        # Admission control: past `max_concurrent_runs` a run waits here, still
        # queued in the database, instead of every run crawling at once.
        async with self._slots:
            await self._drive_admitted(run_id)

    async def _drive_admitted(self, run_id: UUID) -> None:
        if not self.accepting:
            return  # shutting down: a run that waited for a slot stays queued for later
        try:
            run = await self._acquire(run_id)
        except Exception:  # e.g. no pooled connection in time: the run stays queued
            log.warning("could not start run %s; the sweeper retries it", run_id, exc_info=True)
            return
        if run is None:
            return
        heartbeat = asyncio.create_task(self._heartbeat(run_id), name=f"lease-{run_id}")
        try:
            await self._advance(run)
        except asyncio.CancelledError:
            raise
        except UNAVAILABLE_ERRORS:
            log.warning("run %s stopped: database unavailable", run_id, exc_info=True)
            await self._fail_quietly(
                run, ErrorCode.DATABASE_UNAVAILABLE, "The database was unavailable during the run."
            )
        except Exception:
            log.exception("run %s failed unexpectedly", run_id)
            await self._fail_quietly(run, ErrorCode.INTERNAL_ERROR, "The run failed unexpectedly.")
        finally:
            heartbeat.cancel()

    async def _fail_quietly(self, run: Run, code: str, message: str) -> None:
        """Fail a run after an error; if even that cannot be written, the sweeper ends it."""
        try:
            await self._fail(run, code, message)
        except Exception:
            # The lease is no longer renewed: once it lapses the sweeper marks the
            # run interrupted, keeps its partial text and frees the session.
            log.warning(
                "could not record the end of run %s; the sweeper will", run.id, exc_info=True
            )

    async def _acquire(self, run_id: UUID) -> Run | None:
        """Take the lease of a queued run holding its slot, or of a decided waiting run.

        A run still waiting for a decision stays parked (a spurious wake-up must not
        flip it back to `running`); the decision wakes it again.
        """
        # One statement: the approval check, the lease, the start time and the row.
        now = utcnow()
        return await acquire_lease(run_id, self.owner, now, now + self._lease)

    async def _heartbeat(self, run_id: UUID) -> None:
        """Renew the lease; stop driving if the run was taken away (cancelled, swept)."""
        period = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            kept = await Run.filter(
                id=run_id, status=RunStatus.RUNNING, lease_owner=self.owner
            ).update(lease_expires_at=utcnow() + self._lease)
            if kept:
                continue
            status = await Run.filter(id=run_id).values_list("status", flat=True)
            if not status or RunStatus(str(status[0])).is_terminal:
                task = self._tasks.get(run_id)
                if task is not None:
                    task.cancel()
                return

    async def _advance(self, run: Run) -> _Next:
        """Take persisted steps until the run finishes or must wait for a human."""
        assert self.hitl is not None
        for _ in range(MAX_STEPS):
            call = await open_tool_call(run.id)
            if call is not None:
                if call.status is ToolCallStatus.PROPOSED:
                    if await self._park(run, call):
                        return _Next.PARKED
                    continue
                await settle_tool_call(run, call, self.runner, self.contexts, self.events)
                if self.runner.registry.get(call.tool) is None:
                    # A call of a tool that does not exist is bad input, not a tool failure.
                    tools = ", ".join(self.runner.registry.names())
                    message = f"Unknown tool {call.tool!r}; the tools are: {tools}."
                    await self._fail(run, "unknown_tool", message)
                    return _Next.DONE
                continue
            result = await model_round(
                run,
                self.runner,
                self.events,
                self.settings.agent_history_window,
                self.settings.delta_coalesce_ms / 1000,
            )
            if result.error is not None:
                await self._fail(run, result.error.code, result.error.message)
                return _Next.DONE
            for request in result.tool_calls:
                await propose_tool_call(run, request, self.runner, self.hitl, self.events)
            if result.finished:
                await self._finish(run)
                return _Next.DONE
        await self._fail(run, "too_many_steps", f"The run exceeded {MAX_STEPS} steps.")
        return _Next.DONE

    async def _park(self, run: Run, call: ToolCall) -> bool:
        """Release the run to wait for `call`'s approval; False if a decision already arrived.

        `approval_required` is sent only once the run is `waiting_approval`, so a client
        reacting to it sees the run parked.
        """
        await Run.filter(id=run.id, status=RunStatus.RUNNING, lease_owner=self.owner).update(
            status=RunStatus.WAITING_APPROVAL, lease_owner=None, lease_expires_at=None
        )
        approval = await Approval.get_or_none(tool_call_id=call.id, status=ApprovalStatus.PENDING)
        if approval is not None:
            await announce_approval(run, call, approval, self.events)
            return True
        return await self._acquire(run.id) is None

    async def _finish(self, run: Run) -> None:
        # The status and the `done` event commit together: a process dying between
        # two commits would leave a finished run whose followers wait forever.
        async with in_transaction():
            won = await self._release(run, RunStatus.COMPLETED)
            end = _end_event(run, RunStatus.COMPLETED)
            # A won release locked the run row (its UPDATE): the end is checked under it.
            stored = await self._append_end(end) if won else []
        if won:
            self.events.publish(stored)
            await self.promote(run.session_id)  # type: ignore[attr-defined]

    async def _fail(self, run: Run, code: str, message: str) -> None:
        error = f"{code}: {message}"
        async with in_transaction():
            won = await self._release(run, RunStatus.FAILED, error=error)
            if won:
                await close_streaming_messages(run.id, MessageStatus.INTERRUPTED)
            end = _end_event(run, RunStatus.FAILED, error)
            stored = await self._append_end(end) if won else []
        if won:
            self.events.publish(stored)
            await self.promote(run.session_id)  # type: ignore[attr-defined]

    async def log_end(self, run_id: UUID) -> Run:
        """Tidy up a stopped run and log its terminal event, in one transaction.

        For runs whose status was set first and whose local task was stopped
        after (cancel, interrupt), and for the sweeper's repair of an end that
        was never logged. Idempotent: a log that already ended stays as it is.
        """
        assert self.hitl is not None
        async with in_transaction():
            # The run row first, as every writer of a run's events locks it:
            # locking a message first could deadlock with the event writer.
            await lock_in_id_order(Run, [run_id])
            run = await Run.get(id=run_id)
            if run.status is RunStatus.CANCELLED:
                await close_streaming_messages(run_id, MessageStatus.CANCELLED)
                await self.hitl.cancel_for_run(run_id)
            elif run.status is RunStatus.INTERRUPTED:
                await close_streaming_messages(run_id, MessageStatus.INTERRUPTED)
                await mark_started_calls_in_doubt(run_id)
            elif run.status is RunStatus.FAILED:
                await close_streaming_messages(run_id, MessageStatus.INTERRUPTED)
            stored = await self._append_end(_end_event(run, run.status, run.error))
        self.events.publish(stored)
        return run

    async def _append_end(self, end: EventDraft) -> list[StoredEvent | BaseException]:
        """Log a run's terminal event in the caller's transaction, which holds the run's lock."""
        return await append_events_in_transaction(
            [end], runs_locked=True, origin=self.events.origin
        )

    async def _release(self, run: Run, status: RunStatus, error: str | None = None) -> bool:
        """End a run this process drives: final status, session slot and lease freed."""
        return await release_run(run.id, self.owner, status, error, utcnow())


def _end_event(run: Run, status: RunStatus, error: str | None = None) -> EventDraft:
    """A run's terminal event: `error` (code and message) if it failed, else `done`."""
    # `error` reads "code: message", as `_fail` stores it in the run row.
    if status is RunStatus.FAILED:
        code, _, message = str(error or "").partition(": ")
        data = {**run_data(run, status), "code": code or "internal_error", "message": message}
        return EventDraft(run.id, "error", data)
    return EventDraft(run.id, "done", run_data(run, status))
