"""The sweeper: repairs what a dead process or the passing of time left behind.

Runs at startup and then periodically, in every process (all its steps are
conditional updates, so processes racing each other do no harm):
- runs whose lease lapsed are interrupted and their sessions freed;
- runs that ended without their terminal event in the log (the process
  stopped between the two commits of a cancel or an interrupt) get it, so
  their followers finish;
- approvals past `expires_at` are expired (the run resumes with a rejection);
- runs whose approval was decided, and queued runs holding their session's
  slot, are resumed here; waiting queued runs are promoted.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from uuid import UUID

from tortoise.exceptions import BaseORMException

from models import Approval, ApprovalStatus, Run, RunStatus
from services.clock import utcnow
from services.events import TERMINAL_EVENTS_SQL
from services.hitl import HITLManager
from services.raw_sql import fetch_rows
from services.run_executor import RunExecutor

log = logging.getLogger("terrapin.sweeper")

LAPSED_REASON = "The process driving the run stopped (its lease lapsed)."
# Runs that ended longer ago than this are not looked at again (keeps each sweep
# a short index range scan, however many runs the database holds).
END_REPAIR_WINDOW = timedelta(days=1)
END_REPAIR_BATCH = 100
# Only cancel and interrupt log a run's end in a second commit (completing and
# failing are one transaction), so only those can have lost it.
_UNLOGGED_ENDS_SQL = (
    "SELECT r.id FROM run r "
    f"WHERE r.status IN ('{RunStatus.CANCELLED}', '{RunStatus.INTERRUPTED}') "
    "AND r.finished_at >= $1 AND r.finished_at < $2 AND NOT EXISTS ("
    f"SELECT 1 FROM run_event e WHERE e.run_id = r.id AND e.type IN ({TERMINAL_EVENTS_SQL})) "
    "LIMIT $3"
)


class Sweeper:
    """Periodic repair of runs and approvals."""

    def __init__(
        self,
        executor: RunExecutor,
        hitl: HITLManager,
        interval_seconds: float,
        is_sqlite: bool,
        lease_seconds: float,
    ) -> None:
        self._executor = executor
        self._hitl = hitl
        self._interval = interval_seconds
        # SQLite serves a single server process: at startup nothing else can be driving a run.
        self._single_process = is_sqlite
        self._task: asyncio.Task[None] | None = None
        # Whoever ends a run logs its end within moments (after stopping its task,
        # which may take up to 10 s); only older gaps are repaired.
        self._end_grace = timedelta(seconds=max(lease_seconds, 60))
        self.actions = {"interrupted": 0, "expired": 0, "resumed": 0, "ended": 0}

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
            except Exception:  # a failed sweep is retried next interval
                log.exception("sweep failed")

    async def sweep(self, *, startup: bool = False) -> None:
        """Run every repair once."""
        for run_id in await self._lapsed_runs(startup):
            if await self._executor.interrupt(run_id, LAPSED_REASON):
                self.actions["interrupted"] += 1
        self.actions["ended"] += await self._log_missing_ends()
        self.actions["expired"] += await self._hitl.expire_due()
        for run_id in await self._resumable_runs():
            self._executor.schedule(run_id)
            self.actions["resumed"] += 1
        for session_id in await self._sessions_with_waiting_runs():
            await self._executor.promote(session_id)

    async def _lapsed_runs(self, startup: bool) -> list[UUID]:
        query = Run.filter(status=RunStatus.RUNNING)
        if not (startup and self._single_process):
            query = query.filter(lease_expires_at__lt=utcnow())
        return [UUID(str(run_id)) for run_id in await query.values_list("id", flat=True)]

    async def _log_missing_ends(self) -> int:
        """Log the end of cancelled or interrupted runs whose end was never logged."""
        now = utcnow()
        rows = await fetch_rows(
            _UNLOGGED_ENDS_SQL, now - END_REPAIR_WINDOW, now - self._end_grace, END_REPAIR_BATCH
        )
        for row in rows:
            await self._executor.log_end(UUID(str(row["id"])))
        return len(rows)

    async def _resumable_runs(self) -> list[UUID]:
        """Waiting runs with no pending approval, and slot-holding queued runs nobody drives."""
        waiting = await Run.filter(status=RunStatus.WAITING_APPROVAL).values_list("id", flat=True)
        pending: set[str] = set()
        if waiting:
            rows = await Approval.filter(
                run_id__in=list(waiting), status=ApprovalStatus.PENDING
            ).values_list("run_id", flat=True)
            pending = {str(run_id) for run_id in rows}
        queued = await Run.filter(
            status=RunStatus.QUEUED, active_session_id__isnull=False, lease_expires_at__isnull=True
        ).values_list("id", flat=True)
        candidates = [run_id for run_id in waiting if str(run_id) not in pending] + list(queued)
        return [UUID(str(run_id)) for run_id in candidates]

    async def _sessions_with_waiting_runs(self) -> list[UUID]:
        rows = (
            await Run.filter(status=RunStatus.QUEUED, active_session_id__isnull=True)
            .distinct()
            .values_list("session_id", flat=True)
        )
        return [UUID(str(session_id)) for session_id in rows]
