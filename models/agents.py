"""Agents users configure: a name per owner, and the number of its newest version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from tortoise import fields
from tortoise.expressions import F
from tortoise.models import Model

if TYPE_CHECKING:
    from models.users import User

# The agent every session has unless it names another; it is built from the
# server's settings and never stored, so no user may take its name.
BUILTIN_AGENT = "default"


class Agent(Model):
    """A named agent of one user; its configuration lives in immutable `AgentVersion`s."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="agents", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    latest_version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    # Set when retired: its sessions keep running on their version, new ones are refused.
    retired_at = fields.DatetimeField(null=True)

    class Meta:
        table = "agent"
        unique_together = (("owner_id", "name"),)

    def __str__(self) -> str:
        return self.name

    @classmethod
    async def of_owner(cls, owner_id: UUID, name: str) -> Agent | None:
        """The owner's agent of that name, retired or not."""
        return await cls.get_or_none(owner_id=owner_id, name=name)

    @classmethod
    async def page_by_name(cls, owner_id: UUID, after: str | None, limit: int) -> list[Agent]:
        """The owner's agents in name order, after a name (keyset), at most `limit`."""
        query = cls.filter(owner_id=owner_id)
        if after is not None:
            query = query.filter(name__gt=after)
        return await query.order_by("name").limit(limit)

    @classmethod
    async def next_version(cls, agent_id: UUID, now: datetime) -> int | None:
        """Allocate the agent's next version number; None if it is retired.

        Inside the caller's transaction: the UPDATE locks the row, so two
        concurrent new versions get consecutive numbers.
        """
        bumped = await cls.filter(id=agent_id, retired_at=None).update(
            latest_version=F("latest_version") + 1, updated_at=now
        )
        if not bumped:
            return None
        agent = await cls.get(id=agent_id)
        return agent.latest_version

    @classmethod
    async def retire(cls, agent_id: UUID, now: datetime) -> None:
        """Retire the agent (once: a retired agent keeps its first retirement time)."""
        await cls.filter(id=agent_id, retired_at=None).update(retired_at=now, updated_at=now)
