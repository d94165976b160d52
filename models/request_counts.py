"""Requests per user and fixed time window: the shared counter of the request rate limit."""

from __future__ import annotations

import uuid
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from core.database import Database, Statement
from models.users import User


class RequestCount(Model):
    """How many requests a user made in the window starting at `window_start`.

    Every worker counts into the same row, so the limit holds across
    processes. On PostgreSQL the table is UNLOGGED (see its migration): a
    count is not worth a disk flush per request, and a crash only forgets
    the current window.
    """

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="request_counts", on_delete=fields.CASCADE
    )
    # The window's first second, in seconds since the epoch.
    window_start = fields.BigIntField()
    count = fields.IntField(default=0)

    class Meta:
        table = "request_count"
        unique_together = (("user", "window_start"),)

    def __str__(self) -> str:
        return f"{self.count} requests from {self.window_start}"

    @classmethod
    async def hit(cls, database: Database, user_id: UUID, window_start: int, limit: int) -> bool:
        """Count one request in the window; False (nothing counted) once it holds `limit`."""
        return bool(await database.execute(_HIT, user_id, window_start, limit, uuid.uuid4()))

    @classmethod
    async def forget_before(cls, window_start: int) -> None:
        """Delete the counts of windows that started before `window_start`."""
        await cls.filter(window_start__lt=window_start).delete()


# The conditional DO UPDATE returns no row once the count reached the limit, so a
# refused request changes nothing; the first request of a window inserts count 1.
_HIT = Statement(
    lambda: (
        "INSERT INTO request_count (id, user_id, window_start, count) VALUES ($4, $1, $2, 1) "
        "ON CONFLICT (user_id, window_start) DO UPDATE SET count = request_count.count + 1 "
        "WHERE request_count.count < $3 "
        "RETURNING count"
    )
)
