"""Agent runs, and every transition of their state machine as one conditional statement.

Each transition below changes a run only from the states it may leave, and
its return value says whether it won: two processes racing for the same run
(a cancel and a finish, two sweepers) never both succeed. The statements
are hand-written because every agent turn makes several of them; their
columns come from the model (`models/columns.py`). The services call them
through the run lifecycle (`services/runs/lifecycle.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count, Sum
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.database import Database, Statement, literal, literals
from core.errors import ErrorCode
from models.columns import ModelColumns
from models.counters import bump_counters
from models.enums import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_EVENT_TYPES,
    ApprovalStatus,
    RunStatus,
    ToolCallStatus,
)

if TYPE_CHECKING:
    from models.sessions import ChatSession


@dataclass(frozen=True, slots=True)
class OwnerLoad:
    """One user's live runs: holding their session's slot, and queued for it."""

    in_flight: int
    queued: int
    # Whether the session asked about has its slot held by a run.
    session_held: bool


class Run(Model):
    """One agent turn for a session.

    `active_session_id` is the database-enforced "one active run per session"
    slot: it equals `session_id` while the run holds the session and is NULL
    otherwise, and it is unique (NULLs never collide on SQLite or PostgreSQL).
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="runs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RunStatus, max_length=20, default=RunStatus.QUEUED)
    active_session_id = fields.UUIDField(null=True, unique=True)
    agent = fields.CharField(max_length=64, default="default")
    # The agent version the run uses: its number, and the id of its `AgentVersion`
    # row (0 and None for the built-in `default` agent, which has no row).
    agent_version = fields.IntField(default=0)
    agent_config_id = fields.UUIDField(null=True)
    # Tokens of every model round, as the provider reported them.
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    input_message_id = fields.UUIDField(null=True)
    # Last allocated RunEvent.seq: bumped in the event's transaction.
    event_count = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    if TYPE_CHECKING:  # the column behind the relation, set by the ORM
        session_id: UUID

    class Meta:
        table = "run"
        indexes = (
            Index(fields=("status", "lease_expires_at"), name="idx_run_status_lease"),
            Index(fields=("session_id", "created_at"), name="idx_run_session_created"),
            # The sweeper looks for recently ended runs without their end event.
            Index(fields=("status", "finished_at"), name="idx_run_status_finished"),
        )

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    def error_detail(self) -> tuple[str, str] | None:
        """The run's error as (code, message): a failed run's, or an interrupted run's reason."""
        if self.status is RunStatus.FAILED:
            # `RunLifecycle.fail` stores "code: message".
            code, _, message = str(self.error or "").partition(": ")
            return code or ErrorCode.INTERNAL_ERROR, message
        if self.status is RunStatus.INTERRUPTED:
            return ErrorCode.INTERRUPTED, self.error or ""
        return None

    # Reads: queued runs and the session slot.

    @classmethod
    async def has_run_waiting_for_slot(cls, database: Database, session_id: UUID) -> bool:
        """Whether a queued run of the session already waits for its slot (committed state)."""
        return bool(await database.fetch_committed(_ANY_WAITING, session_id))

    @classmethod
    async def oldest_waiting_for_slot(cls, database: Database, session_id: UUID) -> UUID | None:
        """The session's oldest queued run that waits for the slot, if any (committed state)."""
        rows = await database.fetch_committed(_OLDEST_WAITING, session_id)
        return UUID(str(rows[0]["id"])) if rows else None

    @classmethod
    async def blocking(cls, session_id: UUID) -> Run | None:
        """The run that keeps the session busy: the slot holder, else a queued one."""
        holder = await cls.filter(session_id=session_id, active_session_id=session_id).first()
        if holder is not None:
            return holder
        return await cls.filter(session_id=session_id, status=RunStatus.QUEUED).first()

    @classmethod
    async def load_of_owner(
        cls, database: Database, owner_id: UUID, session_id: UUID, *, excluding: UUID
    ) -> OwnerLoad:
        """The owner's other live runs, as the caller's transaction sees them (per-user caps)."""
        row = (await database.execute(_OWNER_LOAD, owner_id, session_id, excluding))[0]
        return OwnerLoad(
            in_flight=int(row["in_flight"]),
            queued=int(row["queued"]),
            session_held=bool(row["session_held"]),
        )

    @classmethod
    async def live_ids(cls, session_id: UUID) -> list[UUID]:
        """The session's runs that have not ended (queued, running or waiting)."""
        ids = await cls.filter(session_id=session_id, status__in=ACTIVE_RUN_STATUSES).values_list(
            "id", flat=True
        )
        return [UUID(str(run_id)) for run_id in ids]

    # Transitions: each a conditional update that says whether it won.

    @classmethod
    async def queue(
        cls,
        session_id: UUID,
        agent: str,
        input_message_id: UUID,
        *,
        take_slot: bool,
        agent_version: int = 0,
        agent_config_id: UUID | None = None,
    ) -> Run:
        """Insert a queued run, holding the session's slot if `take_slot`.

        Raises IntegrityError when `take_slot` and another run holds the slot.
        """
        return await cls.create(
            session_id=session_id,
            agent=agent,
            agent_version=agent_version,
            agent_config_id=agent_config_id,
            status=RunStatus.QUEUED,
            active_session_id=session_id if take_slot else None,
            input_message_id=input_message_id,
        )

    @classmethod
    async def give_slot(cls, database: Database, run_id: UUID, now: datetime) -> bool:
        """Give a waiting queued run its session's slot; False if another run holds it."""
        try:
            return bool(await database.execute(_GIVE_SLOT, run_id, now))
        except IntegrityError:
            return False  # another run holds the session; it promotes when it ends

    @classmethod
    async def take_lease(
        cls, database: Database, run_id: UUID, owner: str, now: datetime, until: datetime
    ) -> Run | None:
        """Start (or resume) a startable run under `owner`'s lease and return it, else None.

        Startable: queued holding its slot, or waiting for approval with no
        decision pending any more (a spurious wake-up must not flip a parked
        run back to running). The first start time is kept.
        """
        rows = await database.execute(_TAKE_LEASE, owner, until, now, run_id)
        return RUN_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def renew_lease(
        cls, database: Database, run_id: UUID, owner: str, now: datetime, until: datetime
    ) -> bool:
        """Extend the lease of a running run `owner` drives; False if it was taken away."""
        return bool(await database.execute(_RENEW_LEASE, until, now, run_id, owner))

    @classmethod
    async def park(cls, database: Database, run_id: UUID, owner: str, now: datetime) -> bool:
        """Release a running run to wait for an approval (lease given up, slot kept)."""
        return bool(await database.execute(_PARK, now, run_id, owner))

    @classmethod
    async def park_for_client(
        cls, database: Database, run_id: UUID, owner: str, now: datetime
    ) -> bool:
        """Release a running run to wait for a client tool's result (lease given up, slot kept)."""
        return bool(await database.execute(_PARK_FOR_CLIENT, now, run_id, owner))

    @classmethod
    async def release(
        cls,
        database: Database,
        run_id: UUID,
        owner: str,
        status: RunStatus,
        error: str | None,
        now: datetime,
    ) -> bool:
        """End a running run `owner` drives (completed or failed): slot and lease freed."""
        return bool(await database.execute(_RELEASE, status.value, now, error, run_id, owner))

    @classmethod
    async def stop(
        cls,
        database: Database,
        run_id: UUID,
        status: RunStatus,
        error: str | None,
        now: datetime,
    ) -> bool:
        """Cancel a live run, or interrupt a running one, whoever drives it."""
        statement = _CANCEL if status is RunStatus.CANCELLED else _INTERRUPT
        return bool(await database.execute(statement, now, error, run_id))

    @classmethod
    async def add_usage(
        cls, database: Database, run_id: UUID, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Add one model round's tokens to the run's usage."""
        await database.execute(_ADD_USAGE, prompt_tokens, completion_tokens, run_id)

    @classmethod
    async def allocate_event_seqs(
        cls, database: Database, increments: Mapping[UUID, int], now: datetime
    ) -> dict[UUID, int]:
        """Reserve event seqs: each run's event count after adding its increment."""
        return await bump_counters(database, _BUMP_EVENT_COUNT, increments, now)

    # Usage: tokens and runs summed over the runs created since a time.

    @classmethod
    async def usage_by_session(
        cls, since: datetime | None, owner_id: UUID | None, limit: int
    ) -> list[dict[str, Any]]:
        """Per session (of one owner, or all), the heaviest first, at most `limit`."""
        return await _usage(cls.all(), since, owner_id, "session_id", limit)

    @classmethod
    async def usage_by_owner(
        cls, since: datetime | None, owner_id: UUID | None
    ) -> list[dict[str, Any]]:
        """Per owner of the sessions (one owner, or all), the heaviest first."""
        return await _usage(cls.all(), since, owner_id, "session__owner_id", None)

    # What the sweeper repairs.

    @classmethod
    async def running_ids(cls, database: Database, lapsed_before: datetime | None) -> list[UUID]:
        """Running runs: those whose lease lapsed before the time, or all of them (None)."""
        if lapsed_before is None:
            return _ids(await database.fetch_committed(_ALL_RUNNING))
        return _ids(await database.fetch_committed(_LAPSED, lapsed_before))

    @classmethod
    async def unlogged_end_ids(
        cls, database: Database, since: datetime, until: datetime, limit: int
    ) -> list[UUID]:
        """Cancelled or interrupted runs that ended in the window with no end event logged."""
        return _ids(await database.fetch_committed(_UNLOGGED_ENDS, since, until, limit))

    @classmethod
    async def resumable_ids(cls, database: Database) -> list[UUID]:
        """Runs nobody drives that could go on: decided waiting runs, slot-holding queued runs."""
        return _ids(await database.fetch_committed(_RESUMABLE))

    @classmethod
    async def sessions_with_waiting_runs(cls, database: Database) -> list[UUID]:
        """Sessions that have a queued run waiting for the slot."""
        rows = await database.fetch_committed(_SESSIONS_WAITING)
        return [UUID(str(row["session_id"])) for row in rows]


async def _usage(
    query: QuerySet[Run], since: datetime | None, owner_id: UUID | None, key: str, limit: int | None
) -> list[dict[str, Any]]:
    """Sum tokens and count runs per `key`, as `{"key", "prompt_tokens", ...}` rows."""
    if since is not None:
        query = query.filter(created_at__gte=since)
    if owner_id is not None:
        query = query.filter(session__owner_id=owner_id)
    grouped = (
        query.annotate(
            total=Sum(F("prompt_tokens") + F("completion_tokens")),
            prompt_tokens_sum=Sum("prompt_tokens"),
            completion_tokens_sum=Sum("completion_tokens"),
            runs=Count("id"),
        )
        .group_by(key)
        .order_by("-total", key)
    )
    if limit is not None:
        grouped = grouped.limit(limit)
    rows = await grouped.values(key, "prompt_tokens_sum", "completion_tokens_sum", "runs")
    return [
        {
            "key": row[key],
            "prompt_tokens": int(row["prompt_tokens_sum"] or 0),
            "completion_tokens": int(row["completion_tokens_sum"] or 0),
            "runs": int(row["runs"]),
        }
        for row in rows
    ]


def _ids(rows: list[dict[str, object]]) -> list[UUID]:
    return [UUID(str(row["id"])) for row in rows]


RUN_COLUMNS = ModelColumns(Run)

_QUEUED = literal(RunStatus.QUEUED)
_RUNNING = literal(RunStatus.RUNNING)
_WAITING_APPROVAL = literal(RunStatus.WAITING_APPROVAL)
_WAITING_FOR_CLIENT = literal(RunStatus.WAITING_FOR_CLIENT)
# The one definition of "queued, waiting for its session's slot".
WAITING_FOR_SLOT = f"status = {_QUEUED} AND active_session_id IS NULL"
_PENDING_APPROVAL_OF_RUN = (
    "SELECT 1 FROM approval a WHERE a.run_id = run.id "
    f"AND a.status = {literal(ApprovalStatus.PENDING)}"
)
_AWAITED_CLIENT_CALL_OF_RUN = (
    "SELECT 1 FROM tool_call c WHERE c.run_id = run.id "
    f"AND c.status = {literal(ToolCallStatus.AWAITING_CLIENT)}"
)
# Slot, lease and lease owner are given up together whenever a run stops.
_FREED = "active_session_id = NULL, lease_owner = NULL, lease_expires_at = NULL"

_ANY_WAITING = Statement(
    lambda: f"SELECT 1 FROM run WHERE session_id = $1 AND {WAITING_FOR_SLOT} LIMIT 1"
)
_OLDEST_WAITING = Statement(
    lambda: (
        f"SELECT id FROM run WHERE session_id = $1 AND {WAITING_FOR_SLOT} "
        "ORDER BY created_at, id LIMIT 1"
    )
)
# COUNT(column) counts the rows where it is not NULL: the slot holders.
_OWNER_LOAD = Statement(
    lambda: (
        "SELECT COUNT(r.active_session_id) AS in_flight, "
        "COUNT(*) - COUNT(r.active_session_id) AS queued, "
        "COUNT(CASE WHEN r.active_session_id = $2 THEN 1 END) AS session_held "
        "FROM run r JOIN chat_session s ON s.id = r.session_id "
        "WHERE s.owner_id = $1 AND r.id <> $3 "
        f"AND r.status IN ({literals(ACTIVE_RUN_STATUSES)})"
    )
)
_GIVE_SLOT = Statement(
    lambda: (
        "UPDATE run SET active_session_id = session_id, updated_at = $2 "
        f"WHERE id = $1 AND {WAITING_FOR_SLOT} RETURNING id"
    )
)
_TAKE_LEASE = Statement(
    lambda: (
        f"UPDATE run SET status = {_RUNNING}, lease_owner = $1, lease_expires_at = $2, "
        "started_at = COALESCE(started_at, $3), updated_at = $3 "
        f"WHERE id = $4 AND status IN ({_QUEUED}, {_WAITING_APPROVAL}, {_WAITING_FOR_CLIENT}) "
        "AND active_session_id IS NOT NULL AND (lease_expires_at IS NULL OR lease_expires_at < $3) "
        f"AND NOT EXISTS ({_PENDING_APPROVAL_OF_RUN}) "
        f"AND NOT EXISTS ({_AWAITED_CLIENT_CALL_OF_RUN}) "
        f"RETURNING {RUN_COLUMNS.select()}"
    )
)
_RENEW_LEASE = Statement(
    lambda: (
        "UPDATE run SET lease_expires_at = $1, updated_at = $2 "
        f"WHERE id = $3 AND status = {_RUNNING} AND lease_owner = $4 RETURNING id"
    )
)
_PARK = Statement(
    lambda: (
        f"UPDATE run SET status = {_WAITING_APPROVAL}, lease_owner = NULL, "
        "lease_expires_at = NULL, updated_at = $1 "
        f"WHERE id = $2 AND status = {_RUNNING} AND lease_owner = $3 RETURNING id"
    )
)
_PARK_FOR_CLIENT = Statement(
    lambda: (
        f"UPDATE run SET status = {_WAITING_FOR_CLIENT}, lease_owner = NULL, "
        "lease_expires_at = NULL, updated_at = $1 "
        f"WHERE id = $2 AND status = {_RUNNING} AND lease_owner = $3 RETURNING id"
    )
)
_RELEASE = Statement(
    lambda: (
        f"UPDATE run SET status = $1, {_FREED}, finished_at = $2, updated_at = $2, error = $3 "
        f"WHERE id = $4 AND status = {_RUNNING} AND lease_owner = $5 RETURNING id"
    )
)
_CANCEL = Statement(
    lambda: (
        f"UPDATE run SET status = {literal(RunStatus.CANCELLED)}, {_FREED}, "
        "finished_at = $1, updated_at = $1, error = $2 "
        f"WHERE id = $3 AND status IN ({literals(ACTIVE_RUN_STATUSES)}) RETURNING id"
    )
)
_INTERRUPT = Statement(
    lambda: (
        f"UPDATE run SET status = {literal(RunStatus.INTERRUPTED)}, {_FREED}, "
        "finished_at = $1, updated_at = $1, error = $2 "
        f"WHERE id = $3 AND status = {_RUNNING} RETURNING id"
    )
)
_BUMP_EVENT_COUNT = Statement(
    lambda: (
        "UPDATE run SET event_count = event_count + $1, updated_at = $3 "
        "WHERE id = ANY($2) RETURNING id, event_count AS count"
    )
)
# Every model round of a run makes it: hand-written like the other per-turn statements.
_ADD_USAGE = Statement(
    lambda: (
        "UPDATE run SET prompt_tokens = prompt_tokens + $1, "
        "completion_tokens = completion_tokens + $2 WHERE id = $3"
    )
)
_ALL_RUNNING = Statement(lambda: f"SELECT id FROM run WHERE status = {_RUNNING}")
_LAPSED = Statement(
    lambda: f"SELECT id FROM run WHERE status = {_RUNNING} AND lease_expires_at < $1"
)
# Only cancel and interrupt log a run's end in a second commit (finishing and
# failing are one transaction), so only those can have lost it.
_UNLOGGED_ENDS = Statement(
    lambda: (
        "SELECT r.id FROM run r "
        f"WHERE r.status IN ({literals([RunStatus.CANCELLED, RunStatus.INTERRUPTED])}) "
        "AND r.finished_at >= $1 AND r.finished_at < $2 AND NOT EXISTS ("
        "SELECT 1 FROM run_event e WHERE e.run_id = r.id "
        f"AND e.type IN ({literals(TERMINAL_EVENT_TYPES)})) LIMIT $3"
    )
)
_RESUMABLE = Statement(
    lambda: (
        f"SELECT id FROM run WHERE (status = {_WAITING_APPROVAL} "
        f"AND NOT EXISTS ({_PENDING_APPROVAL_OF_RUN})) "
        f"OR (status = {_WAITING_FOR_CLIENT} AND NOT EXISTS ({_AWAITED_CLIENT_CALL_OF_RUN})) "
        f"OR (status = {_QUEUED} AND active_session_id IS NOT NULL AND lease_expires_at IS NULL)"
    )
)
_SESSIONS_WAITING = Statement(
    lambda: f"SELECT DISTINCT session_id FROM run WHERE {WAITING_FOR_SLOT}"
)
