"""Run events: the durable log every SSE stream replays and follows.

`EventLog` appends (group-committed) and follows; `StreamHub` wakes local
followers; `PgListener` carries wake-ups between processes on PostgreSQL;
`payloads` renders rows as event data.
"""

from services.events.hub import StoredEvent, StreamHub
from services.events.log import EventDraft, EventLog, RunAlreadyEnded, TextCheckpoint
from services.events.notifier import PgListener

__all__ = [
    "EventDraft",
    "EventLog",
    "PgListener",
    "RunAlreadyEnded",
    "StoredEvent",
    "StreamHub",
    "TextCheckpoint",
]
