"""Hand-written statements on the run row that every agent turn makes.

Each is one statement where the ORM needed several (a check, an update and
a read back) and costs no pypika query building (see services/raw_sql.py).
They are conditional updates, so a lost race changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from models import ApprovalStatus, Run, RunStatus
from services.raw_sql import execute_sql, fetch_rows

RUN_COLUMNS = (
    "id, session_id, status, active_session_id, agent, input_message_id, event_count, "
    "lease_owner, lease_expires_at, error, created_at, updated_at, started_at, finished_at"
)

# The lease of a queued run holding its slot, or of a waiting run whose decision
# arrived; a run with a pending approval stays parked (a spurious wake-up must
# not flip it back to running). The first start time is kept.
_ACQUIRE_SQL = (
    f"UPDATE run SET status = '{RunStatus.RUNNING}', lease_owner = $1, lease_expires_at = $2, "
    "started_at = COALESCE(started_at, $3) "
    f"WHERE id = $4 AND status IN ('{RunStatus.QUEUED}', '{RunStatus.WAITING_APPROVAL}') "
    "AND active_session_id IS NOT NULL AND (lease_expires_at IS NULL OR lease_expires_at < $3) "
    "AND NOT EXISTS (SELECT 1 FROM approval "
    f"WHERE run_id = $4 AND status = '{ApprovalStatus.PENDING}') "
    f"RETURNING {RUN_COLUMNS}"
)
_RELEASE_SQL = (
    "UPDATE run SET status = $1, active_session_id = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, finished_at = $2, error = $3 "
    f"WHERE id = $4 AND status = '{RunStatus.RUNNING}' AND lease_owner = $5 RETURNING id"
)
_OLDEST_WAITING_SQL = (
    f"SELECT id FROM run WHERE session_id = $1 AND status = '{RunStatus.QUEUED}' "
    "AND active_session_id IS NULL ORDER BY created_at, id LIMIT 1"
)


async def acquire_lease(run_id: UUID, owner: str, now: datetime, expires: datetime) -> Run | None:
    """Take a startable run's lease (see _ACQUIRE_SQL) and return the run, else None."""
    rows = await execute_sql(_ACQUIRE_SQL, owner, expires, now, run_id)
    return Run._init_from_db(**rows[0]) if rows else None


async def release_run(
    run_id: UUID, owner: str, status: RunStatus, error: str | None, now: datetime
) -> bool:
    """End a running run `owner` drives: final status, slot and lease freed; False if lost."""
    rows = await execute_sql(_RELEASE_SQL, status.value, now, error, run_id, owner)
    return bool(rows)


async def oldest_waiting_run(session_id: UUID) -> UUID | None:
    """The session's oldest queued run that waits for the slot, if any (committed state)."""
    rows = await fetch_rows(_OLDEST_WAITING_SQL, session_id)
    return UUID(str(rows[0]["id"])) if rows else None
