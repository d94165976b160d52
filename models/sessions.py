"""Chat sessions: the conversations messages, context and runs belong to."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from core.database import Database, Statement
from models.columns import ModelColumns
from models.counters import bump_counters
from models.enums import SessionStatus

if TYPE_CHECKING:
    from models.users import User


class ChatSession(Model):
    """One conversation; `message_count` is also the last allocated message seq.

    A fork (`parent`, `forked_at_seq`) shares its parent's messages up to that
    seq instead of copying them (see docs/branches.md); its own messages are
    numbered from `forked_at_seq + 1`. A deleted session that a live fork
    still reads from is kept with `deleted_at` set and is hidden everywhere.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200, default="")
    agent = fields.CharField(max_length=64, default="default")
    status = fields.CharEnumField(SessionStatus, max_length=16, default=SessionStatus.ACTIVE)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    message_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_message_at = fields.DatetimeField(null=True)
    # NO ACTION: a session with forks is never removed from under them (it is
    # soft-deleted instead); deleting a user's sessions in one statement still works.
    parent: fields.ForeignKeyNullableRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="forks", null=True, on_delete=fields.NO_ACTION
    )
    forked_at_seq = fields.IntField(null=True)
    deleted_at = fields.DatetimeField(null=True)

    if TYPE_CHECKING:  # the columns behind the relations, set by the ORM
        owner_id: UUID
        parent_id: UUID | None

    class Meta:
        table = "chat_session"
        indexes = (
            Index(fields=("owner_id", "updated_at", "id"), name="idx_session_owner_keyset"),
            Index(fields=("updated_at", "id"), name="idx_session_keyset"),
            # A session's forks, listed newest first (and the purge's "any fork left?").
            Index(fields=("parent_id", "updated_at", "id"), name="idx_session_parent_keyset"),
        )

    def __str__(self) -> str:
        return self.title or str(self.id)

    @property
    def is_fork(self) -> bool:
        """Whether the session was forked from another (and so reads its history)."""
        return self.forked_at_seq is not None

    @classmethod
    async def live(cls, database: Database, session_id: UUID) -> ChatSession | None:
        """The session, if it exists and is not deleted (whoever owns it)."""
        rows = await database.fetch_committed(_BY_ID, session_id)
        return SESSION_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def locked(cls, session_id: UUID, *, deleted: bool = False) -> ChatSession | None:
        """The live session (or, with `deleted`, also a deleted one), locked until commit.

        A full row lock: it also waits for inserts that reference the row
        (a fork of it, a context snapshot of it) to commit.
        """
        query = cls.filter(id=session_id)
        if not deleted:
            query = query.filter(deleted_at__isnull=True)
        return await query.select_for_update().first()

    @classmethod
    async def has_forks(cls, session_id: UUID) -> bool:
        """Whether any session (deleted ones included) forks from this one."""
        return await cls.filter(parent_id=session_id).exists()

    @classmethod
    async def mark_deleted(cls, session_id: UUID, now: datetime) -> None:
        """Hide a session its forks still read from (its rows stay)."""
        await cls.filter(id=session_id).update(deleted_at=now)

    @classmethod
    async def lineage(cls, database: Database, session_id: UUID) -> list[Segment]:
        """The stretches of history the session reads, its own first, then up to the root.

        Runs on the ORM's connection, so inside a transaction it sees its writes.
        """
        rows = await database.execute(_LINEAGE, session_id)
        return [Segment(UUID(str(row["id"])), int(row["lo"]), int(row["hi"])) for row in rows]

    @classmethod
    async def allocate_seqs(
        cls, database: Database, increments: Mapping[UUID, int], now: datetime
    ) -> dict[UUID, int]:
        """Reserve message seqs: each session's count after adding its increment."""
        return await bump_counters(database, _BUMP_MESSAGE_COUNT, increments, now)


@dataclass(frozen=True, slots=True)
class Segment:
    """Messages of `session_id` with `after < seq <= upto`: one stretch of a history.

    A session's history is its segments in seq order; they never overlap, and
    together they hold every seq from 1 to the session's message count once.
    """

    session_id: UUID
    after: int
    upto: int

    @property
    def empty(self) -> bool:
        """Whether no seq falls in the segment (a fork made below its parent's fork point)."""
        return self.upto <= self.after


# The largest seq (the columns are 32-bit): "no upper bound" in lineage arithmetic.
MAX_SEQ = 2**31 - 1


def lineage_cte(base: str) -> str:
    """`WITH RECURSIVE lineage(id, parent_id, lo, hi, depth, top)`, walked up from `base`.

    `base` selects the first row. Each step adds the parent of the row before,
    whose stretch is its own messages after its fork point (`lo`) up to where
    the child below it on the path forked (`hi`, bounded by that child's `hi`).
    `top` is carried unchanged from the base row.
    """
    return (
        "WITH RECURSIVE lineage(id, parent_id, lo, hi, depth, top) AS ("
        f"{base} UNION ALL "
        "SELECT p.id, p.parent_id, COALESCE(p.forked_at_seq, 0), "
        "CASE WHEN l.lo < l.hi THEN l.lo ELSE l.hi END, l.depth + 1, l.top "
        "FROM lineage l JOIN chat_session p ON p.id = l.parent_id) "
    )


# A session's whole path: itself (every seq after its fork point), then its ancestors.
SELF_LINEAGE = lineage_cte(
    f"SELECT id, parent_id, COALESCE(forked_at_seq, 0), {MAX_SEQ}, 0, {MAX_SEQ} "
    "FROM chat_session WHERE id = $1"
)
SESSION_COLUMNS = ModelColumns(ChatSession)
# A session not soft-deleted (see ChatSession's docstring).
LIVE_SESSION = "deleted_at IS NULL"
_BY_ID = Statement(
    lambda: f"SELECT {SESSION_COLUMNS.select()} FROM chat_session WHERE id = $1 AND {LIVE_SESSION}"
)
_LINEAGE = Statement(lambda: f"{SELF_LINEAGE} SELECT id, lo, hi FROM lineage ORDER BY depth")
_BUMP_MESSAGE_COUNT = Statement(
    lambda: (
        "UPDATE chat_session SET message_count = message_count + $1, updated_at = $3, "
        "last_message_at = $3 WHERE id = ANY($2) RETURNING id, message_count AS count"
    )
)
