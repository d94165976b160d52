"""Per-session agent state with an optimistic-concurrency version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.expressions import F
from tortoise.models import Model

from core.database import Database, Statement
from models.columns import ModelColumns

if TYPE_CHECKING:
    from models.sessions import ChatSession


class AgentContext(Model):
    """The agent's JSON state for one session; `version` bumps on every write."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.OneToOneRelation[ChatSession] = fields.OneToOneField(
        "models.ChatSession", related_name="context", on_delete=fields.CASCADE
    )
    version = fields.IntField(default=0)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "agent_context"

    def __str__(self) -> str:
        return f"context v{self.version}"

    @classmethod
    async def replace(
        cls,
        database: Database,
        session_id: UUID,
        data: dict[str, Any],
        expected_versions: list[int] | None,
        now: datetime,
    ) -> AgentContext | None:
        """Write new data if the version is one of those expected (None: unconditionally).

        One statement that returns the row it wrote, so the answer describes
        this write and not a later one; None if the version no longer matches.
        """
        encoded = _DATA_FIELD.to_db_value(data, cls)
        if expected_versions is None:
            rows = await database.execute(_REPLACE, encoded, now, session_id)
        else:
            rows = await database.execute(
                _REPLACE_IF_VERSION, encoded, now, session_id, expected_versions
            )
        return CONTEXT_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def locked_for_update(cls, session_id: UUID) -> AgentContext | None:
        """The session's context, its row locked until the transaction ends (PostgreSQL)."""
        return await cls.filter(session_id=session_id).select_for_update().first()

    @classmethod
    async def write_data(cls, context_id: UUID, data: dict[str, Any], now: datetime) -> None:
        """Store new data in a context row the caller has locked, bumping its version."""
        await cls.filter(id=context_id).update(data=data, version=F("version") + 1, updated_at=now)


CONTEXT_COLUMNS = ModelColumns(AgentContext)
_DATA_FIELD = AgentContext._meta.fields_map["data"]
_REPLACE = Statement(
    lambda: (
        "UPDATE agent_context SET data = $1, version = version + 1, updated_at = $2 "
        f"WHERE session_id = $3 RETURNING {CONTEXT_COLUMNS.select()}"
    )
)
_REPLACE_IF_VERSION = Statement(
    lambda: (
        "UPDATE agent_context SET data = $1, version = version + 1, updated_at = $2 "
        f"WHERE session_id = $3 AND version = ANY($4) RETURNING {CONTEXT_COLUMNS.select()}"
    )
)
