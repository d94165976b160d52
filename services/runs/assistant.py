"""The assistant's streamed text: a `streaming` message, coalesced deltas, a final message."""

from __future__ import annotations

import time

from tortoise.transactions import in_transaction

from agent import AssistantMessage
from core.clock import utcnow
from core.database import Database
from core.storable import clean_text
from models import AppendRequest, EventType, Message, MessageDraft, MessageRole, MessageStatus, Run
from models.locks import lock_in_id_order
from services.events import EventDraft, EventLog, TextCheckpoint
from services.events.payloads import message_data
from services.runs.sanitize import storable_message


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

    async def flush(self) -> None:
        """Emit buffered text as one delta, committed with the message's content so far."""
        if self._message is None or not self._pending:
            return
        self._last_flush = time.monotonic()
        await self._events.emit(
            self._run.id,
            EventType.DELTA,
            self._take_pending(self._message),
            TextCheckpoint(self._message.id, "".join(self._text)),
        )

    def _take_pending(self, message: Message) -> dict[str, str]:
        """The buffered text as a `delta` payload; the buffer is emptied."""
        chunk, self._pending = "".join(self._pending), []
        return {"message_id": str(message.id), "text": chunk}

    async def checkpoint(self) -> None:
        """Store the text so far (status stays `streaming`)."""
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
        session_id = self._run.session_id  # type: ignore[attr-defined]
        request = AppendRequest(session_id, draft)
        outcome = (await Message.append(self._database, [request], utcnow()))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome.message
