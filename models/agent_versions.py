"""Agent versions: the immutable configuration an agent's runs use."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from core.settings import AgentProvider

if TYPE_CHECKING:
    from models.agents import Agent


class AgentVersion(Model):
    """One version of an agent: never changed once written (a change is a new version)."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    agent: fields.ForeignKeyRelation[Agent] = fields.ForeignKeyField(
        "models.Agent", related_name="versions", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    description = fields.TextField(default="")
    # Sent to the model as the system message before the history.
    instructions = fields.TextField(default="")
    provider = fields.CharEnumField(AgentProvider, max_length=16)
    # None: the server's TERRAPIN_AGENT_MODEL.
    model = fields.CharField(max_length=200, null=True)
    # Names of server tools (built-in or plugin) offered to the model.
    tools: fields.JSONField[list[str]] = fields.JSONField(default=list)
    tools_requiring_approval: fields.JSONField[list[str]] = fields.JSONField(default=list)
    # None: the server's TERRAPIN_AGENT_HISTORY_WINDOW.
    history_window = fields.IntField(null=True)
    # Tools the client runs: `{"name", "description", "parameters"}` each.
    client_tools: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "agent_version"
        unique_together = (("agent_id", "version"),)

    def __str__(self) -> str:
        return f"agent version {self.version}"

    @classmethod
    async def of_agent(cls, agent_id: UUID, version: int) -> AgentVersion | None:
        """One version of an agent, if it exists."""
        return await cls.get_or_none(agent_id=agent_id, version=version)

    @classmethod
    async def page_newest_first(
        cls, agent_id: UUID, before: int | None, limit: int
    ) -> list[AgentVersion]:
        """The agent's versions from the newest, below `before` (keyset), at most `limit`."""
        query = cls.filter(agent_id=agent_id)
        if before is not None:
            query = query.filter(version__lt=before)
        return await query.order_by("-version").limit(limit)
