"""AgentContextManager: per-session agent state with optimistic concurrency.

Every write also records the data as the context after the session's newest
message (`ContextSnapshot`), in the same transaction: a fork made later at
that message starts from it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import (
    ErrorCode,
    PayloadTooLarge,
    PreconditionFailed,
    UnprocessableEntity,
    session_not_found,
)
from core.storable import Unstorable, check_json, json_size
from models import AgentContext, ContextSnapshot


class AgentContextManager:
    """Read and replace a session's context; every write bumps `version`."""

    def __init__(self, database: Database, max_bytes: int) -> None:
        self._database = database
        self.max_bytes = max_bytes

    async def get(self, session_id: UUID) -> AgentContext:
        """Return the context row of a session."""
        context = await AgentContext.get_or_none(session_id=session_id)
        if context is None:
            raise session_not_found()
        return context

    async def replace(
        self, session_id: UUID, data: dict[str, Any], expected_versions: list[int] | None
    ) -> AgentContext:
        """Replace the data if the version is one of those expected (None: unconditionally)."""
        self._check(data)
        async with in_transaction():
            now = utcnow()
            written = await AgentContext.replace(
                self._database, session_id, data, expected_versions, now
            )
            if written is not None:
                await ContextSnapshot.record(self._database, session_id, data, now)
        if written is None:
            current = await self.get(session_id)
            raise PreconditionFailed(
                "The context changed since it was read; fetch it again.",
                code=ErrorCode.VERSION_CONFLICT,
                data={"current_version": current.version},
            )
        return written

    async def set_key(self, session_id: UUID, key: str, value: Any) -> AgentContext:
        """Set one key atomically (used by the `remember` tool)."""
        async with in_transaction():
            context = await AgentContext.locked_for_update(session_id)
            if context is None:
                raise session_not_found()
            data = {**context.data, key: value}
            self._check(data)
            now = utcnow()
            await AgentContext.write_data(context.id, data, now)
            await ContextSnapshot.record(self._database, session_id, data, now)
        return await self.get(session_id)

    def _check(self, data: dict[str, Any]) -> None:
        """Refuse data that breaks a storage rule (422) or exceeds the size limit (413)."""
        try:
            check_json(data)
        except Unstorable as exc:
            raise UnprocessableEntity(
                f"The context cannot be stored: {exc}",
                code=ErrorCode.VALIDATION_ERROR,
                data={"errors": [{"loc": ["data"], "msg": str(exc), "type": "value_error"}]},
            ) from None
        size = json_size(data)
        if size > self.max_bytes:
            raise PayloadTooLarge(
                f"The context would be {size} bytes of JSON; the limit is {self.max_bytes}.",
                data={"limit_bytes": self.max_bytes},
            )
