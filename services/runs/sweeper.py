"""The sweeper: repairs what a dead process or the passing of time left behind.

Runs at startup and then periodically, in every process (all its steps are
conditional updates, so processes racing each other do no harm):
- runs whose lease lapsed are interrupted and their sessions freed;
- runs that ended without their terminal event in the log (the process
  stopped between the two commits of a cancel or an interrupt) get it, so
  their followers finish;
- approvals past `expires_at` are expired (the run resumes with a rejection),
  and so are client tool calls nobody answered in time (an error result);
- runs whose approval was decided or whose client call was answered, and
  queued runs holding their session's slot, are resumed here; waiting queued
  runs are promoted;
- ended runs whose tool calls lack a tool message (they ended before every
  end answered its calls) get one, a batch per sweep, until none is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from tortoise.exceptions import BaseORMException

from core.clock import utcnow
from core.database import Database
from core.database.schema import schema_missing
from core.errors import UNAVAILABLE_ERRORS
from core.outages import RepeatedWarning
from models import Run, ToolCall
from services.approvals import HITLManager
from services.client_tools import ClientToolManager
from services.runs.executor import RunExecutor
from services.runs.lifecycle import RunLifecycle

log = logging.getLogger("terrapin.sweeper")

LAPSED_REASON = "The process driving the run stopped (its lease lapsed)."
# Runs that ended longer ago than this are not looked at again (keeps each sweep
# a short index range scan, however many runs the database holds).
END_REPAIR_WINDOW = timedelta(days=1)
END_REPAIR_BATCH = 100
HISTORY_REPAIR_BATCH = 100


class Sweeper:
    """Periodic repair of runs and approvals."""

    def __init__(
        self,
        database: Database,
        lifecycle: RunLifecycle,
        executor: RunExecutor,
        hitl: HITLManager,
        clients: ClientToolManager,
        interval_seconds: float,
        lease_seconds: float,
        on_action: Callable[[str, int], None] | None = None,
    ) -> None:
        self._database = database
        self._lifecycle = lifecycle
        self._executor = executor
        self._hitl = hitl
        self._clients = clients
        self._interval = interval_seconds
        # SQLite serves a single server process: at startup nothing else can be driving a run.
        self._single_process = not database.is_postgres
        self._task: asyncio.Task[None] | None = None
        # Whoever ends a run logs its end within moments (after stopping its task,
        # which may take up to 10 s); only older gaps are repaired.
        self._end_grace = timedelta(seconds=max(lease_seconds, 60))
        self.actions = {"interrupted": 0, "expired": 0, "resumed": 0, "ended": 0, "answered": 0}
        # Histories broken before every end answered its calls are looked for
        # until a sweep finds fewer than a batch: no end leaves new ones behind.
        self._history_backlog = True
        self._on_action = on_action
        self._skipped = RepeatedWarning(log, "sweep skipped: database unavailable or not migrated")

    async def start(self) -> None:
        """Sweep once now, then every interval in the background.

        An unreachable or unmigrated database must not stop the server from
        starting: /readyz reports it, and the periodic sweep retries.
        """
        try:
            await self.sweep(startup=True)
        except (BaseORMException, OSError) as exc:
            log.warning("startup sweep skipped: %s", exc)
        self._task = asyncio.create_task(self._loop(), name="sweeper")

    async def stop(self) -> None:
        """Stop the periodic sweep."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except Exception as exc:  # a failed sweep is retried next interval
                if isinstance(exc, UNAVAILABLE_ERRORS) or schema_missing(exc):
                    self._skipped(exc)  # an outage: one line now and then, no traceback
                else:
                    log.exception("sweep failed")

    async def sweep(self, *, startup: bool = False) -> None:
        """Run every repair once."""
        now = utcnow()
        lapsed_before = None if startup and self._single_process else now
        interrupted = 0
        for run_id in await Run.running_ids(self._database, lapsed_before):
            interrupted += await self._executor.interrupt(run_id, LAPSED_REASON)
        self._count("interrupted", interrupted)
        self._count("ended", await self._log_missing_ends())
        self._count("answered", await self._answer_open_calls())
        self._count("expired", await self._hitl.expire_due() + await self._clients.expire_due())
        resumable = await Run.resumable_ids(self._database)
        for run_id in resumable:
            self._executor.schedule(run_id)
        self._count("resumed", len(resumable))
        for session_id in await Run.sessions_with_waiting_runs(self._database):
            await self._executor.promote(session_id)

    def _count(self, action: str, count: int) -> None:
        if count:
            self.actions[action] += count
            if self._on_action is not None:
                self._on_action(action, count)

    async def _log_missing_ends(self) -> int:
        """Log the end of cancelled or interrupted runs whose end was never logged."""
        now = utcnow()
        run_ids = await Run.unlogged_end_ids(
            self._database, now - END_REPAIR_WINDOW, now - self._end_grace, END_REPAIR_BATCH
        )
        for run_id in run_ids:
            await self._lifecycle.log_end(run_id)
        return len(run_ids)

    async def _answer_open_calls(self) -> int:
        """Give each ended run's unanswered tool calls their tool message; return how many."""
        if not self._history_backlog:
            return 0
        run_ids = await ToolCall.ended_runs_with_unanswered(self._database, HISTORY_REPAIR_BATCH)
        if len(run_ids) < HISTORY_REPAIR_BATCH:
            self._history_backlog = False
        answered = 0
        for run_id in run_ids:
            answered += await self._lifecycle.answer_open_calls(run_id)
        return answered
