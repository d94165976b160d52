"""Row locks taken in a fixed order, so concurrent writers queue instead of deadlocking."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from tortoise.models import Model

from core.database import Database


async def lock_in_id_order(database: Database, model: type[Model], ids: Iterable[UUID]) -> None:
    """Lock these rows until the transaction ends, in id order.

    Two transactions that lock overlapping sets then wait for each other
    rather than deadlock (PostgreSQL). SQLite has no row locks, and its
    BEGIN IMMEDIATE already serialises writers, so nothing is sent there.
    """
    if database.is_postgres:
        locked = model.filter(id__in=list(ids)).order_by("id")
        await locked.select_for_update(no_key=True).only("id")
