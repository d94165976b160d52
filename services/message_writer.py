"""Append messages in batches with gapless per-session seqs and idempotency.

One batch is one transaction: look up client_message_ids already stored,
bump each touched session's `message_count` with an `UPDATE … RETURNING`
(which also locks the row on PostgreSQL, so seqs never collide across
processes) that gives the new counts to assign seqs, and insert every
message in one statement. A request whose outcome is decided without a write (a replay or an
idempotency conflict) gets it without failing its neighbours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import ChatSession, Message, MessageRole, MessageStatus
from project.errors import Conflict, ErrorCode, session_not_found
from services.clock import utcnow
from services.raw_sql import execute_sql
from services.row_locks import lock_in_id_order


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to append; the writer assigns its seq."""

    role: MessageRole
    content: str
    client_message_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    status: MessageStatus = MessageStatus.COMPLETE
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    run_id: UUID | None = None
    # Chosen by the caller when another row must name the message before it exists.
    id: UUID | None = None


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One queued append."""

    session_id: UUID
    draft: MessageDraft


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The stored message, and whether this request created it."""

    message: Message
    created: bool


Outcome = AppendResult | BaseException


def same_body(message: Message, draft: MessageDraft) -> bool:
    """Whether a retry carries the same body as the stored message."""
    return (
        message.role == draft.role
        and message.content == draft.content
        and (message.metadata or {}) == (draft.metadata or {})
    )


def replay(message: Message, draft: MessageDraft) -> Outcome:
    """Answer a repeated client_message_id: the original, or a conflict."""
    if same_body(message, draft):
        return AppendResult(message, created=False)
    return Conflict(
        "This client_message_id was already used with a different body.",
        code=ErrorCode.IDEMPOTENCY_CONFLICT,
        data={"message_id": str(message.id)},
    )


async def write_batch(requests: Sequence[AppendRequest]) -> list[Outcome]:
    """Append a batch in one transaction; on a cross-process race, retry one by one."""
    try:
        async with in_transaction():
            return await append_in_transaction(requests)
    except IntegrityError:
        return [await _write_alone(request) for request in requests]


async def _write_alone(request: AppendRequest) -> Outcome:
    """Write one request in its own transaction (the slow, isolating path)."""
    for _attempt in range(2):
        try:
            async with in_transaction():
                return (await append_in_transaction([request]))[0]
        except IntegrityError:
            continue  # someone else stored this client_message_id meanwhile: look again
        except Exception as exc:  # this request alone fails; its neighbours are unaffected
            return exc
    return Conflict("Could not store the message.", code=ErrorCode.IDEMPOTENCY_CONFLICT)


async def append_in_transaction(requests: Sequence[AppendRequest]) -> list[Outcome]:
    """Append within the caller's transaction; returns one outcome per request."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    stored = await _stored_by_client_id(requests)
    first_in_batch: dict[tuple[UUID, str], int] = {}
    to_insert: list[int] = []
    for index, request in enumerate(requests):
        key = _client_key(request)
        if key is not None and key in stored:
            outcomes[index] = replay(stored[key], request.draft)
        elif key is not None and key in first_in_batch:
            continue  # resolved against the first occurrence after the insert
        else:
            if key is not None:
                first_in_batch[key] = index
            to_insert.append(index)
    inserted = await _insert(requests, to_insert, outcomes)
    for index, request in enumerate(requests):
        key = _client_key(request)
        if outcomes[index] is None and key is not None:
            original = inserted.get(first_in_batch[key])
            outcomes[index] = replay(original, request.draft) if original else session_not_found()
    return [outcome if outcome is not None else session_not_found() for outcome in outcomes]


def _client_key(request: AppendRequest) -> tuple[UUID, str] | None:
    cmid = request.draft.client_message_id
    return (request.session_id, cmid) if cmid is not None else None


async def _stored_by_client_id(
    requests: Sequence[AppendRequest],
) -> dict[tuple[UUID, str], Message]:
    """Fetch messages already stored under the batch's client_message_ids."""
    keys = {key for request in requests if (key := _client_key(request)) is not None}
    if not keys:
        return {}
    rows = await Message.filter(
        session_id__in={sid for sid, _ in keys}, client_message_id__in={c for _, c in keys}
    )
    stored: dict[tuple[UUID, str], Message] = {}
    for row in rows:
        key = (row.session_id, str(row.client_message_id))  # type: ignore[attr-defined]
        if key in keys:
            stored[key] = row
    return stored


async def _insert(
    requests: Sequence[AppendRequest], indexes: list[int], outcomes: list[Outcome | None]
) -> dict[int, Message]:
    """Allocate seqs per session and insert the messages in one statement."""
    per_session: dict[UUID, list[int]] = defaultdict(list)
    for index in indexes:
        per_session[requests[index].session_id].append(index)
    if not per_session:
        return {}
    now = utcnow()
    counts = await _bump_counters(per_session, now)
    messages: dict[int, Message] = {}
    for session_id, members in per_session.items():
        if session_id not in counts:
            for index in members:
                outcomes[index] = session_not_found()
            continue
        first_seq = counts[session_id] - len(members) + 1
        for offset, index in enumerate(members):
            messages[index] = _build(requests[index], first_seq + offset, now)
    if messages:
        await Message.bulk_create(list(messages.values()))
    for index, message in messages.items():
        outcomes[index] = AppendResult(message, created=True)
    return messages


async def _bump_counters(per_session: dict[UUID, list[int]], now: Any) -> dict[UUID, int]:
    """Add each session's new-message count; return the counts after the bump."""
    if len(per_session) > 1:
        # Several rows: lock them in id order first (one UPDATE would lock them in scan
        # order). A single row is locked by its UPDATE, at the same point of the
        # transaction and in the same mode, so a separate lock would only cost a query.
        await lock_in_id_order(ChatSession, per_session)
    by_increment: dict[int, list[UUID]] = defaultdict(list)
    for session_id, members in per_session.items():
        by_increment[len(members)].append(session_id)
    counts: dict[UUID, int] = {}
    for increment, session_ids in by_increment.items():
        # RETURNING gives the new counts: no second query to read them back.
        rows = await execute_sql(_bump_sql(len(session_ids)), increment, now, *session_ids)
        counts.update({UUID(str(row["id"])): int(row["message_count"]) for row in rows})
    return counts


@lru_cache(maxsize=16)
def _bump_sql(sessions: int) -> str:
    ids = ", ".join(f"${index}" for index in range(3, 3 + sessions))
    return (
        "UPDATE chat_session SET message_count = message_count + $1, updated_at = $2, "
        f"last_message_at = $2 WHERE id IN ({ids}) RETURNING id, message_count"
    )


def _build(request: AppendRequest, seq: int, now: Any) -> Message:
    draft = request.draft
    return Message(
        id=draft.id or uuid4(),
        session_id=request.session_id,
        seq=seq,
        role=draft.role,
        content=draft.content,
        status=draft.status,
        tool_calls=draft.tool_calls,
        tool_call_id=draft.tool_call_id,
        run_id=draft.run_id,
        client_message_id=draft.client_message_id,
        metadata=draft.metadata,
        created_at=now,
        updated_at=now,
    )
