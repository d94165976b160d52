"""Cross-process wake-ups for event followers, over PostgreSQL LISTEN/NOTIFY.

Each batch of events notifies `CHANNEL` inside its own transaction, so the
notification is delivered exactly when the rows become visible. Every process
listens on one dedicated connection and wakes its local followers; a lost
connection only slows them down to the poll interval until it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from core.database import Database
from core.outages import RepeatedWarning
from models import RunEvent
from services.events.hub import StoredEvent, StreamHub

CHANNEL = "terrapin_run_events"
ORIGIN_MARK = "@"  # a payload's first item may name the hub whose process wrote it
MAX_PAYLOAD = 7000  # PostgreSQL refuses notification payloads of 8000 bytes or more
RECONNECT_SECONDS = 2.0

log = logging.getLogger("terrapin.notifier")


def payloads(events: Iterable[StoredEvent], origin: str | None = None) -> list[str]:
    """Encode `run_id:seq` items (the newest seq per run) into notification payloads.

    With `origin`, every payload starts with an `@origin` item.
    """
    newest: dict[UUID, int] = {}
    for event in events:
        newest[event.run_id] = max(newest.get(event.run_id, 0), event.seq)
    head = f"{ORIGIN_MARK}{origin}" if origin else ""
    chunks, current = [], head
    for run_id, seq in newest.items():
        item = f"{run_id}:{seq}"
        if current != head and len(current) + len(item) + 1 > MAX_PAYLOAD:
            chunks.append(current)
            current = head
        current = f"{current},{item}" if current else item
    if current != head:
        chunks.append(current)
    return chunks


async def notify_in_transaction(
    database: Database, events: Iterable[StoredEvent], origin: str | None = None
) -> None:
    """Queue notifications on the current transaction (PostgreSQL only).

    `origin`: the hub that is given these events after the commit; its own
    listener then skips them.
    """
    if not database.is_postgres:
        return
    for payload in payloads(events, origin):
        await RunEvent.notify_on_commit(database, CHANNEL, payload)


class PgListener:
    """Listen for other processes' events and wake local followers."""

    def __init__(self, database_url: str, hub: StreamHub) -> None:
        parts = urlsplit(database_url.replace("postgres://", "postgresql://", 1))
        self._dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._hub = hub
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._disconnected = RepeatedWarning(
            log, "event listener disconnected; streams fall back to polling"
        )

    async def start(self) -> None:
        """Connect and listen; keep reconnecting in the background if that fails."""
        self._task = asyncio.create_task(self._keep_listening(), name="pg-listener")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _keep_listening(self) -> None:
        while not self._closing:
            try:
                await self._listen_until_lost()
            except (OSError, asyncpg.PostgresError) as exc:
                self._disconnected(exc)  # every 2 s during an outage: one line per interval
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_until_lost(self) -> None:
        lost = asyncio.Event()
        self._conn = await asyncpg.connect(self._dsn)
        self._conn.add_termination_listener(lambda _conn: lost.set())
        await self._conn.add_listener(CHANNEL, self._on_notification)
        await lost.wait()

    def _on_notification(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        items = payload.split(",")
        if items[0].startswith(ORIGIN_MARK):
            if items[0][len(ORIGIN_MARK) :] == self._hub.origin:
                # This process wrote them and publishes them to the hub after their
                # commit: waking followers now, before that, only sends them to the
                # database for events about to reach them from memory.
                return
            items = items[1:]
        for item in items:
            run_id, _, seq = item.partition(":")
            try:
                self._hub.notify(UUID(run_id), int(seq))
            except ValueError:
                log.warning("ignored malformed notification %r", item)
