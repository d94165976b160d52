"""The durable log of a run's events: what SSE streams replay."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from core.database import Database, Dialect, Statement, literals
from models.columns import ModelColumns
from models.enums import TERMINAL_EVENT_TYPES
from models.runs import Run


class RunEvent(Model):
    """One SSE event of a run; `seq` is its SSE id, strictly increasing from 1."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="events", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    type = fields.CharField(max_length=32)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "run_event"
        unique_together = (("run_id", "seq"),)

    def __str__(self) -> str:
        return f"{self.type}#{self.seq}"

    @classmethod
    async def after(
        cls, database: Database, run_id: UUID, seq: int, limit: int
    ) -> list[dict[str, Any]]:
        """Committed events of a run after `seq`, in order: `seq`, `type`, `data` (decoded)."""
        rows = await database.fetch_committed(_AFTER, run_id, seq, limit)
        return [_EVENT_COLUMNS.json_decoded(row) for row in rows]

    @classmethod
    async def log_is_closed(cls, database: Database, run_id: UUID) -> bool:
        """Whether nothing more can be logged: the run's end is committed, or the run is gone."""
        row = (await database.fetch_committed(_LOG_STATE, run_id))[0]
        return bool(row["ended"]) or not row["present"]

    @classmethod
    async def ended_runs(cls, database: Database, run_ids: Collection[UUID]) -> set[UUID]:
        """Those of the runs whose log holds a terminal event (in the caller's transaction)."""
        if not run_ids:
            return set()
        rows = await database.execute(_ENDED_RUNS, list(run_ids))
        return {UUID(str(row["run_id"])) for row in rows}

    @classmethod
    async def notify_on_commit(cls, database: Database, channel: str, payload: str) -> None:
        """Queue a PostgreSQL notification, delivered when the caller's transaction commits."""
        await database.execute(_NOTIFY, channel, payload)


_EVENT_COLUMNS = ModelColumns(RunEvent, ("seq", "type", "data"))
_TERMINAL = literals(TERMINAL_EVENT_TYPES)
_AFTER = Statement(
    lambda: (
        f"SELECT {_EVENT_COLUMNS.select()} FROM run_event WHERE run_id = $1 AND seq > $2 "
        "ORDER BY seq LIMIT $3"
    )
)
# A run deleted with its session has no rows left: its followers must stop too.
_LOG_STATE = Statement(
    lambda: (
        "SELECT EXISTS (SELECT 1 FROM run WHERE id = $1) AS present, "
        "EXISTS (SELECT 1 FROM run_event WHERE run_id = $1 "
        f"AND type IN ({_TERMINAL})) AS ended"
    )
)
_ENDED_RUNS = Statement(
    lambda: (
        f"SELECT DISTINCT run_id FROM run_event WHERE run_id = ANY($1) AND type IN ({_TERMINAL})"
    )
)
_NOTIFY = Statement(lambda: "SELECT pg_notify($1, $2)", only=Dialect.POSTGRES)
