"""The assistant's streamed text: a `streaming` message, coalesced deltas, a final message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from tortoise.transactions import in_transaction

from agent import AssistantMessage
from core.clock import utcnow
from core.database import Database
from core.storable import clean_text
from models import AppendRequest, EventType, Message, MessageDraft, MessageRole, MessageStatus, Run
from models.locks import lock_in_id_order
from services.events import EventDraft, EventLog, StoredEvent, TextCheckpoint
from services.events.payloads import message_data
from services.runs.sanitize import storable_message

T = TypeVar("T")


class NotYet(Exception):
    """No item arrived within the time asked for."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """The source raised this error instead of yielding its next item."""

    error: Exception


class ReadAhead(Generic[T]):
    """Reads an async iterator in a task of its own, so waiting for its next item can time out.

    Timing out a wait on the iterator itself would cancel it (and close the
    provider's stream); here only the wait ends.
    """

    def __init__(self, source: AsyncIterator[T]) -> None:
        self._items: asyncio.Queue[T | _Failed | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read(source), name="read-ahead")

    async def _read(self, source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                self._items.put_nowait(item)
        except Exception as exc:  # raised to the reader, in order
            self._items.put_nowait(_Failed(exc))
            return
        self._items.put_nowait(None)

    async def next(self, *, within: float | None) -> T | None:
        """The next item, None after the last; `NotYet` if none came `within` seconds."""
        try:
            async with asyncio.timeout(within):
                item = await self._items.get()
        except TimeoutError:
            raise NotYet from None
        if isinstance(item, _Failed):
            raise item.error
        return item

    async def aclose(self) -> None:
        """Stop reading (the source is closed) and wait until it is."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class AssistantStream:
    """Persist one model round's text as it streams."""

    def __init__(
        self, database: Database, run: Run, events: EventLog, coalesce_seconds: float
    ) -> None:
        self._database = database
        self._run = run
        self._events = events
        self._coalesce = coalesce_seconds
        self._message: Message | None = None
        self._text: list[str] = []
        self._pending: list[str] = []
        self._last_flush = 0.0
        self._in_flight: asyncio.Future[StoredEvent] | None = None

    async def add(self, text: str) -> None:
        """Take one delta; emit (and checkpoint) when the coalescing window has passed."""
        if self._message is None:
            async with in_transaction():
                self._message = await self._append(
                    MessageDraft(
                        role=MessageRole.ASSISTANT,
                        content="",
                        status=MessageStatus.STREAMING,
                        run_id=self._run.id,
                    )
                )
            self._last_flush = time.monotonic()
        text = clean_text(text)  # a NUL or lone surrogate could not be stored: U+FFFD instead
        self._text.append(text)
        self._pending.append(text)
        if time.monotonic() - self._last_flush >= self._coalesce:
            await self.flush()

    async def next_event(self, events: ReadAhead[T]) -> T | None:
        """The round's next event (None after the last), flushing buffered text when it is due.

        A provider that stalls after a piece of text must not hold that text
        back until its next token (or its timeout).
        """
        while True:
            try:
                return await events.next(within=self._due_in())
            except NotYet:
                await self.flush()

    def _due_in(self) -> float | None:
        """Seconds until the buffered text is due as a `delta`; None if nothing is buffered."""
        if not self._pending:
            return None
        return max(0.0, self._last_flush + self._coalesce - time.monotonic())

    async def flush(self) -> None:
        """Emit buffered text as one delta, committed with the message's content so far."""
        if self._message is None or not self._pending:
            return
        self._last_flush = time.monotonic()
        delta = self._events.emit(
            self._run.id,
            EventType.DELTA,
            self._take_pending(self._message),
            TextCheckpoint(self._message.id, "".join(self._text)),
        )
        # A delta commits even if this task is cancelled meanwhile: `checkpoint` waits for it.
        self._in_flight = asyncio.ensure_future(delta)
        await asyncio.shield(self._in_flight)

    def _take_pending(self, message: Message) -> dict[str, str]:
        """The buffered text as a `delta` payload; the buffer is emptied."""
        chunk, self._pending = "".join(self._pending), []
        return {"message_id": str(message.id), "text": chunk}

    async def checkpoint(self) -> None:
        """Store the text so far (status stays `streaming`), after the delta on its way if any.

        Once the run's task has stopped, nothing of its text is left to commit:
        the end logged next shows the text as stored.
        """
        if self._in_flight is not None:
            await asyncio.gather(self._in_flight, return_exceptions=True)
        if self._message is not None:
            await Message.checkpoint_text(
                self._database, self._message.id, "".join(self._text), utcnow()
            )

    async def finish(self, final: AssistantMessage) -> Message:
        """Store the complete message; log its last text and, without tool calls, the message.

        One transaction: the message's final state and the events that show it
        are never committed apart.
        """
        final = storable_message(final)
        drafts: list[EventDraft] = []
        async with in_transaction():
            # The run row first, as the event writer locks it before the message.
            await lock_in_id_order(self._database, Run, [self._run.id])
            if self._message is None:
                message = await self._append(
                    MessageDraft(
                        role=MessageRole.ASSISTANT,
                        content=final.content,
                        tool_calls=final.tool_calls,
                        run_id=self._run.id,
                    )
                )
            else:
                if self._pending:
                    drafts.append(
                        EventDraft(self._run.id, EventType.DELTA, self._take_pending(self._message))
                    )
                message = self._message
                message.content = final.content
                message.tool_calls = final.tool_calls
                message.status = MessageStatus.COMPLETE
                message.updated_at = utcnow()
                # The other columns never change after the insert: the row is not read back.
                await Message.complete(
                    message.id, message.content, message.tool_calls, message.updated_at
                )
            if not final.tool_calls:
                drafts.append(EventDraft(self._run.id, EventType.MESSAGE, message_data(message)))
            stored = (
                await self._events.append_in_transaction(drafts, runs_locked=True) if drafts else []
            )
        self._events.publish(stored)
        return message

    async def _append(self, draft: MessageDraft) -> Message:
        """Append one message of the run's session (inside the caller's transaction)."""
        session_id = self._run.session_id
        request = AppendRequest(session_id, draft)
        outcome = (await Message.append(self._database, [request], utcnow()))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome.message
