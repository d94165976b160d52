"""Per-session agent state with an optimistic-concurrency version."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

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
