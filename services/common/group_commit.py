"""Group commit: requests that arrive together share one database transaction.

Callers `submit` an item and await its own result; a single worker task takes
everything queued (up to `max_batch`, waiting at most `max_wait` for more),
hands the batch to `handler` in one go, and resolves each caller only after
that batch's commit. `stop` drains the queue before returning, so shutdown
never drops an accepted write.

`max_batch=1` turns batching off: each item runs the handler in its own task
and transaction, concurrently with the others (one transaction per request,
as a design without group commit would do it; the benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from core.errors import UNAVAILABLE_ERRORS, ErrorCode, ServiceUnavailable
from core.outages import RepeatedWarning

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("terrapin.group_commit")


class _Pending(Generic[T, R]):
    __slots__ = ("future", "item", "queued_at")

    def __init__(self, item: T, future: asyncio.Future[R]) -> None:
        self.item = item
        self.future = future
        self.queued_at = future.get_loop().time()


BatchHandler = Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]
# Called after each batch with (items, queue wait of the oldest, flush seconds).
BatchObserver = Callable[[int, float, float], None]


class GroupCommitter(Generic[T, R]):
    """Batch concurrent submissions into single handler calls."""

    def __init__(
        self,
        handler: BatchHandler[T, R],
        *,
        max_batch: int,
        max_wait_seconds: float,
        name: str = "group-commit",
        observer: BatchObserver | None = None,
    ) -> None:
        self._handler = handler
        self.max_batch = max_batch
        self.max_wait = max_wait_seconds
        self.name = name
        self._unavailable = RepeatedWarning(log, f"{name}: batches fail, database unavailable")
        self._queue: asyncio.Queue[_Pending[T, R] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._unbatched: set[asyncio.Future[Sequence[R | BaseException]]] = set()
        self.batches = 0
        self.items = 0
        self._observer = observer

    async def start(self) -> None:
        """Start the worker task."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=self.name)

    async def submit(self, item: T) -> R:
        """Queue `item` and return its result once its batch has committed."""
        if self._closed or self._worker is None:
            raise ServiceUnavailable("The server is shutting down.", code=ErrorCode.SHUTTING_DOWN)
        if self.max_batch == 1:
            return await self._submit_unbatched(item)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, future))
        return await future

    async def _submit_unbatched(self, item: T) -> R:
        """Run the handler for `item` alone; a cancelled caller does not cancel the write."""
        self.batches += 1
        self.items += 1
        started = asyncio.get_running_loop().time()
        task = asyncio.ensure_future(self._handler([item]))
        self._unbatched.add(task)
        task.add_done_callback(self._unbatched.discard)
        outcome = (await asyncio.shield(task))[0]
        if self._observer is not None:
            self._observer(1, 0.0, asyncio.get_running_loop().time() - started)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def stop(self) -> None:
        """Refuse new items, commit everything already queued, stop the worker."""
        self._closed = True
        if self._unbatched:
            await asyncio.gather(*self._unbatched, return_exceptions=True)
        if self._worker is None:
            return
        self._queue.put_nowait(None)
        await self._worker
        self._worker = None

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch, stopping = await self._collect(first)
            await self._flush(batch)

    async def _collect(self, first: _Pending[T, R]) -> tuple[list[_Pending[T, R]], bool]:
        """Gather up to max_batch items: all already queued, then wait up to max_wait."""
        await asyncio.sleep(0)  # let handlers that are ready right now enqueue too
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                pending = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    pending = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if pending is None:
                return batch, True
            batch.append(pending)
        return batch, False

    async def _flush(self, batch: list[_Pending[T, R]]) -> None:
        """Run the handler once and resolve every caller with its own outcome."""
        self.batches += 1
        self.items += len(batch)
        started = asyncio.get_running_loop().time()
        try:
            outcomes = await self._handler([pending.item for pending in batch])
        except Exception as exc:  # the whole batch failed: fail each caller with it
            if isinstance(exc, UNAVAILABLE_ERRORS):
                self._unavailable(exc)  # an outage fails every batch: no traceback each
            else:
                log.warning("%s: batch of %d failed", self.name, len(batch), exc_info=True)
            outcomes = [exc] * len(batch)
        if self._observer is not None:
            ended = asyncio.get_running_loop().time()
            self._observer(len(batch), started - batch[0].queued_at, ended - started)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue  # the caller went away; the write itself still happened
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
