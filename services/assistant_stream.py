"""One model round: stream assistant text to the log and checkpoint it as it grows."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from uuid import UUID

from tortoise.transactions import in_transaction

from agent import AgentRunner, AssistantMessage, RunError, RunFinished, TextDelta, ToolCallRequested
from models import Message, MessageRole, MessageStatus, Run
from services.agent_bridge import history_window
from services.clock import utcnow
from services.events import EventDraft, EventLog, TextCheckpoint, append_events_in_transaction
from services.message_writer import MessageDraft
from services.row_locks import lock_in_id_order
from services.run_steps import append_message, append_message_in_transaction
from services.serializers import message_data


@dataclass
class RoundResult:
    """How a model round ended."""

    finished: bool = False
    error: RunError | None = None
    tool_calls: list[ToolCallRequested] = field(default_factory=list)


class AssistantStream:
    """Persist streamed text: a `streaming` message, coalesced deltas, a final message."""

    def __init__(self, run: Run, events: EventLog, coalesce_seconds: float) -> None:
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
            self._message = await append_message(
                self._run.session_id,  # type: ignore[attr-defined]
                MessageDraft(
                    role=MessageRole.ASSISTANT,
                    content="",
                    status=MessageStatus.STREAMING,
                    run_id=self._run.id,
                ),
            )
            self._last_flush = time.monotonic()
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
            "delta",
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
            await Message.filter(id=self._message.id).update(
                content="".join(self._text), updated_at=utcnow()
            )

    async def finish(self, final: AssistantMessage) -> Message:
        """Store the complete assistant message; log its last text and, without tool calls, it.

        One transaction: the message's final state and the events that show it
        are never committed apart.
        """
        drafts: list[EventDraft] = []
        async with in_transaction():
            # The run row first, as the event writer locks it before the message.
            await lock_in_id_order(Run, [self._run.id])
            if self._message is None:
                message = await self._append_final(final)
            else:
                if self._pending:
                    data = self._take_pending(self._message)
                    drafts.append(EventDraft(self._run.id, "delta", data))
                message = self._message
                message.content = final.content
                message.tool_calls = final.tool_calls
                message.status = MessageStatus.COMPLETE
                message.updated_at = utcnow()
                # The row is the one in hand with these four changes: the other
                # columns never change after the insert, so it is not read back.
                await Message.filter(id=message.id).update(
                    content=message.content,
                    tool_calls=message.tool_calls,
                    status=message.status,
                    updated_at=message.updated_at,
                )
            if not final.tool_calls:
                drafts.append(EventDraft(self._run.id, "message", message_data(message)))
            origin = self._events.origin
            stored = (
                await append_events_in_transaction(drafts, runs_locked=True, origin=origin)
                if drafts
                else []
            )
        self._events.publish(stored)
        return message

    async def _append_final(self, final: AssistantMessage) -> Message:
        """Append an assistant message that streamed no text (inside the caller's transaction)."""
        return await append_message_in_transaction(
            self._run.session_id,  # type: ignore[attr-defined]
            MessageDraft(
                role=MessageRole.ASSISTANT,
                content=final.content,
                tool_calls=final.tool_calls,
                run_id=self._run.id,
            ),
        )

    @property
    def message_id(self) -> UUID | None:
        """The streaming message, once text has started."""
        return self._message.id if self._message else None


async def model_round(
    run: Run, runner: AgentRunner, events: EventLog, window: int, coalesce_seconds: float
) -> RoundResult:
    """Ask the model once; persist its text; return its tool calls or how it ended."""
    turns = await history_window(run.session_id, window, run.id)  # type: ignore[attr-defined]
    stream = AssistantStream(run, events, coalesce_seconds)
    result = RoundResult()
    try:
        async for event in runner.step(turns):
            if isinstance(event, TextDelta):
                await stream.add(event.text)
            elif isinstance(event, AssistantMessage):
                await stream.finish(event)
            elif isinstance(event, ToolCallRequested):
                result.tool_calls.append(event)
            elif isinstance(event, RunFinished):
                result.finished = True
            elif isinstance(event, RunError):
                await stream.flush()
                result.error = event
    except asyncio.CancelledError:
        await asyncio.shield(stream.checkpoint())  # keep the partial text
        raise
    return result
