"""The group-commit handler for message appends: one transaction per batch."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import Conflict, ErrorCode
from models import AppendOutcome, AppendRequest, Message


class MessageBatchWriter:
    """Write batches of appends; on a cross-process race, retry them one by one."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def write_batch(self, requests: Sequence[AppendRequest]) -> list[AppendOutcome]:
        """Append a batch in one transaction."""
        try:
            async with in_transaction():
                return await Message.append(self._database, requests, utcnow())
        except IntegrityError:
            return [await self._write_alone(request) for request in requests]

    async def _write_alone(self, request: AppendRequest) -> AppendOutcome:
        """Write one request in its own transaction (the slow, isolating path)."""
        for _attempt in range(2):
            try:
                async with in_transaction():
                    return (await Message.append(self._database, [request], utcnow()))[0]
            except IntegrityError:
                continue  # someone else stored this client_message_id meanwhile: look again
            except Exception as exc:  # this request alone fails; its neighbours are unaffected
                return exc
        return Conflict("Could not store the message.", code=ErrorCode.IDEMPOTENCY_CONFLICT)
