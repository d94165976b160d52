"""In-process fan-out of committed run events to the SSE streams that follow them.

The hub is only the fast path: a stream that misses a wake-up (or follows a
run driven by another process) still finds every event in the database after
at most one poll interval. It keeps a short tail of recent events per run so
live followers rarely need to query.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

TAIL_EVENTS = 256  # recent events kept per run
TRACKED_RUNS = 4096  # runs whose tails are kept (least recently published dropped first)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A committed RunEvent."""

    run_id: UUID
    seq: int
    type: str
    data: dict[str, Any]


class StreamHub:
    """Publish committed events; let followers wait for news of a run."""

    def __init__(self) -> None:
        # Names this hub in cross-process notifications, so its own listener skips
        # those of events it is given directly (services/events/notifier.py).
        self.origin = secrets.token_hex(8)
        self._tails: OrderedDict[UUID, deque[StoredEvent]] = OrderedDict()
        self._latest: dict[UUID, int] = {}
        self._waiters: dict[UUID, set[asyncio.Event]] = {}

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Record committed events and wake everyone following their runs."""
        for event in events:
            tail = self._tails.get(event.run_id)
            if tail is None:
                tail = self._tails[event.run_id] = deque(maxlen=TAIL_EVENTS)
                self._evict()
            self._tails.move_to_end(event.run_id)
            if not tail or tail[-1].seq < event.seq:
                tail.append(event)
            self._latest[event.run_id] = max(self._latest.get(event.run_id, 0), event.seq)
            for waiter in self._waiters.get(event.run_id, ()):
                waiter.set()

    def notify(self, run_id: UUID, seq: int) -> None:
        """Another process committed events up to `seq`: wake this run's followers."""
        if seq <= self._latest.get(run_id, 0):
            return
        if run_id in self._waiters:
            self._latest[run_id] = seq  # followers now read the gap from the database
            for waiter in self._waiters[run_id]:
                waiter.set()

    def tail_after(self, run_id: UUID, seq: int) -> list[StoredEvent] | None:
        """Events after `seq` from memory, or None when memory cannot prove completeness."""
        tail = self._tails.get(run_id)
        if not tail or tail[0].seq > seq + 1:
            return None
        events = [event for event in tail if event.seq > seq]
        expected = range(seq + 1, seq + 1 + len(events))
        if [event.seq for event in events] != list(expected):
            return None
        if self._latest.get(run_id, 0) > (events[-1].seq if events else seq):
            return None
        return events

    async def wait(self, run_id: UUID, after_seq: int, max_wait: float) -> None:
        """Return when an event newer than `after_seq` is published, or after `max_wait` s."""
        if self._latest.get(run_id, 0) > after_seq:
            return
        waiter = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), max_wait)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[run_id]
                    if run_id not in self._tails:
                        self._latest.pop(run_id, None)

    @property
    def followers(self) -> int:
        """How many streams are waiting right now."""
        return sum(len(waiters) for waiters in self._waiters.values())

    def _evict(self) -> None:
        while len(self._tails) > TRACKED_RUNS:
            run_id, _ = self._tails.popitem(last=False)
            self._latest.pop(run_id, None)
