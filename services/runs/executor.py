"""RunExecutor: drives runs in tasks this process owns, under a database lease.

A run is driven by whichever process holds its lease; the lease is renewed by
a heartbeat and lapses if the process dies (the sweeper then interrupts the
run). Driving is resumable: each step re-reads what is persisted (tool
calls, decisions, messages) and takes the next one, so any process can pick
up a run that waits for an approval.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from uuid import UUID

from core.errors import UNAVAILABLE_ERRORS, ErrorCode
from core.settings import Settings
from models import Run, RunStatus, ToolCall, ToolCallStatus
from services.runs.lifecycle import RunLifecycle
from services.runs.steps import RunSteps

log = logging.getLogger("terrapin.runs")

MAX_STEPS = 64  # model rounds + tool settlements in one drive; a safety bound


class RunExecutor:
    """Start, resume, cancel and interrupt runs in this process."""

    def __init__(self, settings: Settings, lifecycle: RunLifecycle, steps: RunSteps) -> None:
        self._lifecycle = lifecycle
        self._steps = steps
        self.accepting = True
        # False in shells and scripts: runs are left to the server's sweeper.
        self.drive_here = True
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._wake_again: set[UUID] = set()
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

    async def promote(self, session_id: UUID) -> None:
        """Give a free session's slot to its oldest waiting run, and drive it."""
        promoted = await self._lifecycle.promote_next(session_id)
        if promoted is not None:
            self.schedule(promoted)

    async def cancel(self, run_id: UUID) -> Run | None:
        """Cancel a live run wherever it is driven; None if it had already ended."""
        if not await self._lifecycle.cancel(run_id):
            return None
        return await self._stopped(run_id)

    async def interrupt(self, run_id: UUID, reason: str) -> bool:
        """Interrupt a running run wherever it is driven; its partial text is kept."""
        won = await self._lifecycle.interrupt(run_id, reason)
        await self.stop_local(run_id)
        if won:
            await self._stopped(run_id)
        return won

    async def _stopped(self, run_id: UUID) -> Run:
        """After a cancel or interrupt: stop the local task, log the end, free the session."""
        await self.stop_local(run_id)  # before the end is logged: no event after it
        run = await self._lifecycle.log_end(run_id)
        await self.promote(run.session_id)
        return run

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

    async def _drive(self, run_id: UUID) -> None:
        # Admission control: past `max_concurrent_runs` a run waits here, still
        # queued in the database, instead of every run crawling at once.
        async with self._slots:
            await self._drive_admitted(run_id)

    async def _drive_admitted(self, run_id: UUID) -> None:
        if not self.accepting:
            return  # shutting down: a run that waited for a slot stays queued for later
        try:
            run = await self._lifecycle.take_lease(run_id)
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

    async def _heartbeat(self, run_id: UUID) -> None:
        """Renew the lease; stop driving if the run was taken away (cancelled, swept)."""
        period = self._lifecycle.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            if await self._lifecycle.renew_lease(run_id):
                continue
            status = await Run.filter(id=run_id).values_list("status", flat=True)
            if not status or RunStatus(str(status[0])).is_terminal:
                task = self._tasks.get(run_id)
                if task is not None:
                    task.cancel()
                return

    async def _advance(self, run: Run) -> None:
        """Take persisted steps until the run finishes or must wait for a human."""
        for _ in range(MAX_STEPS):
            call = await self._steps.first_unanswered_call(run)
            if call is not None:
                if call.status is ToolCallStatus.PROPOSED:
                    if await self._park(run, call):
                        return
                    continue
                if call.status is ToolCallStatus.AWAITING_CLIENT:
                    if await self._wait_for_client(run, call):
                        return
                    continue
                await self._steps.settle_tool_call(run, call)
                if not await self._steps.knows_tool(run, call.tool):
                    # A call of a tool that does not exist is bad input, not a tool failure.
                    message = await self._steps.unknown_tool(run, call)
                    await self._fail(run, ErrorCode.UNKNOWN_TOOL, message)
                    return
                continue
            result = await self._steps.model_round(run)
            if result.error is not None:
                await self._fail(run, result.error.code, result.error.message)
                return
            for request in result.tool_calls:
                await self._steps.propose_tool_call(run, request)
            if result.finished:
                if await self._lifecycle.finish(run):
                    await self.promote(run.session_id)
                return
        await self._fail(run, ErrorCode.TOO_MANY_STEPS, f"The run exceeded {MAX_STEPS} steps.")

    async def _park(self, run: Run, call: ToolCall) -> bool:
        """Let the run wait for `call`'s approval; False if a decision already arrived.

        `approval_required` is sent only once the run is `waiting_approval`, so a client
        reacting to it sees the run parked.
        """
        await self._lifecycle.park(run.id)
        if await self._steps.announce_pending_approval(run, call):
            return True
        return await self._lifecycle.take_lease(run.id) is None

    async def _wait_for_client(self, run: Run, call: ToolCall) -> bool:
        """Let the run wait for the client's result of `call`; False if it already arrived.

        As with approvals, `client_tool_call` is sent only once the run is
        `waiting_for_client`, so a client answering it finds the run parked.
        """
        await self._lifecycle.wait_for_client(run.id)
        if await self._steps.announce_client_tool_call(run, call):
            return True
        return await self._lifecycle.take_lease(run.id) is None

    async def _fail(self, run: Run, code: str, message: str) -> None:
        if await self._lifecycle.fail(run, code, message):
            await self.promote(run.session_id)
