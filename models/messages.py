"""Messages, and how they are appended: gapless per-session seqs, idempotent retries.

An append batch is one transaction's work: look up the client_message_ids
already stored, reserve each touched session's seqs (`ChatSession.allocate_seqs`,
which also locks the session rows on PostgreSQL, so seqs never collide
across processes), and insert every new message in one statement. A request
whose outcome needs no write (a replay, an idempotency conflict) gets it
without failing its neighbours.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from core.database import Database, Dialect, Statement, literal, literals
from core.errors import Conflict, ErrorCode, session_not_found
from models.columns import ModelColumns
from models.enums import READABLE_MESSAGE_STATUSES, MessageRole, MessageStatus, RunStatus
from models.locks import lock_in_id_order
from models.sessions import MAX_SEQ, SELF_LINEAGE, ChatSession, Segment, lineage_cte

if TYPE_CHECKING:
    from models.runs import Run


class Message(Model):
    """One message; `seq` is gapless per session and orders the history."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    session: fields.ForeignKeyRelation[ChatSession] = fields.ForeignKeyField(
        "models.ChatSession", related_name="messages", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    role = fields.CharEnumField(MessageRole, max_length=16)
    content = fields.TextField()
    status = fields.CharEnumField(MessageStatus, max_length=16, default=MessageStatus.COMPLETE)
    tool_calls: fields.JSONField[list[dict[str, Any]] | None] = fields.JSONField(null=True)
    tool_call_id = fields.CharField(max_length=64, null=True)
    run: fields.ForeignKeyNullableRelation[Run] = fields.ForeignKeyField(
        "models.Run", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    client_message_id = fields.CharField(max_length=128, null=True)
    metadata: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message"
        unique_together = (("session_id", "seq"), ("session_id", "client_message_id"))
        # A run's messages are looked up on every step, and deleting a run sets
        # their run_id to NULL: without this index both scan the whole table.
        indexes = (Index(fields=("run_id",), name="idx_message_run"),)

    def __str__(self) -> str:
        return f"{self.role}#{self.seq}"

    @classmethod
    async def page(
        cls,
        database: Database,
        session: ChatSession,
        direction: str,
        seq: int,
        limit: int,
        *,
        below: int | None = None,
    ) -> list[dict[str, Any]]:
        """Up to `limit` committed messages after `seq` (ascending) or before it (descending).

        `below` bounds a page after `seq` to seqs less than it. Rows, not
        models: a response schema validates them directly. A fork's page reads
        across its ancestors (`_lineage_page`).
        """
        # Inclusive in SQL: a 32-bit parameter cannot hold "one past the largest seq".
        last = MAX_SEQ if below is None else below - 1
        if session.is_fork:
            return await cls._lineage_page(database, session, direction, seq, limit, last)
        if direction == "after":
            rows = await database.fetch_committed(_PAGE_AFTER, session.id, seq, last, limit)
        else:
            rows = await database.fetch_committed(_PAGE_BEFORE, session.id, seq, limit)
        return [MESSAGE_COLUMNS.json_decoded(row) for row in rows]

    @classmethod
    async def _lineage_page(
        cls,
        database: Database,
        session: ChatSession,
        direction: str,
        seq: int,
        limit: int,
        last: int,
    ) -> list[dict[str, Any]]:
        """A fork's page, read as the seq range it covers.

        A history's seqs are 1..message_count without gaps, so the `limit`
        messages after (or before) a seq are exactly a range of seqs; each
        segment of the lineage that overlaps it is read by its index, and no
        row outside the page is touched, however long the history. The rows
        are ordered here: sorting them in SQL costs more than the read.
        """
        after, upto = _page_range(direction, seq, limit, session.message_count)
        upto = min(upto, last)  # `last`: the highest seq a page after `seq` may hold
        statement = _on(database, _LINEAGE_RANGE_PG, _LINEAGE_RANGE_SQLITE)
        rows = await database.fetch_committed(statement, session.id, after, upto)
        rows.sort(key=_by_seq, reverse=direction == "before")
        return [MESSAGE_COLUMNS.json_decoded(row) for row in rows]

    @classmethod
    async def at_seq(cls, database: Database, session: ChatSession, seq: int) -> Message | None:
        """The message at `seq` of the session's history (its ancestors' included), if any.

        On the ORM's connection: inside a transaction it sees the transaction's writes.
        """
        if not session.is_fork:
            return await cls.get_or_none(session_id=session.id, seq=seq)
        statement = _on(database, _LINEAGE_RANGE_PG, _LINEAGE_RANGE_SQLITE)
        rows = await database.execute(statement, session.id, seq - 1, seq)
        return MESSAGE_COLUMNS.instance(database, rows[0]) if rows else None

    @classmethod
    async def latest_with_role(
        cls, database: Database, segments: Sequence[Segment], role: MessageRole, below: int
    ) -> Message | None:
        """The newest message of `role` with a seq below `below`, searching segment by segment.

        `segments` is a lineage (newest stretch first); each search is an
        index scan backwards that stops at the first match.
        """
        for segment in segments:
            upto = min(segment.upto, below - 1)
            if upto <= segment.after:
                continue
            rows = await database.execute(
                _LATEST_WITH_ROLE, segment.session_id, segment.after, upto, role.value
            )
            if rows:
                return MESSAGE_COLUMNS.instance(database, rows[0])
        return None

    @classmethod
    async def history_window(
        cls, database: Database, session_id: UUID, run_id: UUID, size: int
    ) -> list[dict[str, Any]]:
        """The newest `size` messages run `run_id` may read, oldest first (turn fields and run).

        Messages of runs still queued behind this one are not its history yet.
        A fork's window continues into what it shares with its ancestors (one
        statement: `_window`); the two parts are merged here.
        """
        statement = _on(database, _WINDOW_PG, _WINDOW_SQLITE)
        rows = await database.fetch_committed(statement, session_id, run_id, size)
        readable = [row for row in rows if row["status"] in _READABLE_VALUES]
        readable.sort(key=_by_seq)
        return [_TURN_COLUMNS.values(database, row) for row in readable[-size:]]

    @classmethod
    async def of_run(cls, run_id: UUID) -> list[Message]:
        """The messages a run wrote (its input message included), in order."""
        return await cls.filter(run_id=run_id).order_by("seq")

    @classmethod
    async def answers_call(cls, run_id: UUID, call_id: str) -> bool:
        """Whether the run holds the tool message answering its call `call_id`."""
        return await cls.exists(run_id=run_id, role=MessageRole.TOOL, tool_call_id=call_id)

    @classmethod
    async def cut_short(cls, run_id: UUID) -> Message | None:
        """The run's assistant reply that stopped part-way (its partial text is kept), if any."""
        stopped = READABLE_MESSAGE_STATUSES - {MessageStatus.COMPLETE}
        query = cls.filter(run_id=run_id, role=MessageRole.ASSISTANT, status__in=stopped)
        return await query.order_by("-seq").first()

    @classmethod
    async def with_client_id(cls, session_id: UUID, client_message_id: str) -> Message | None:
        """The session's message stored under this client_message_id, if any."""
        return await cls.get_or_none(session_id=session_id, client_message_id=client_message_id)

    @classmethod
    async def checkpoint_text(
        cls, database: Database, message_id: UUID, content: str, now: datetime
    ) -> None:
        """Store a streaming message's text so far (in the caller's transaction, if any)."""
        await database.execute(_CHECKPOINT, content, now, message_id)

    @classmethod
    async def complete(
        cls, message_id: UUID, content: str, tool_calls: list[dict[str, Any]] | None, now: datetime
    ) -> None:
        """Give a streamed message its final text and tool calls."""
        await cls.filter(id=message_id).update(
            content=content, tool_calls=tool_calls, status=MessageStatus.COMPLETE, updated_at=now
        )

    @classmethod
    async def close_streaming(cls, run_id: UUID, status: MessageStatus, now: datetime) -> None:
        """Give a stopped run's partial assistant text its final status (the text is kept)."""
        await cls.filter(run_id=run_id, status=MessageStatus.STREAMING).update(
            status=status, updated_at=now
        )

    @classmethod
    async def append(
        cls, database: Database, requests: Sequence[AppendRequest], now: datetime
    ) -> list[AppendOutcome]:
        """Append messages inside the caller's transaction; one outcome per request."""
        return await _Append(database, requests, now).run()


MESSAGE_COLUMNS = ModelColumns(Message)
# What a model turn reads of a message, and the run that wrote it (which orders it).
_TURN_COLUMNS = MESSAGE_COLUMNS.only("role", "content", "tool_calls", "tool_call_id", "run_id")
_PAGE_AFTER = Statement(
    lambda: (
        f"SELECT {MESSAGE_COLUMNS.select()} FROM message WHERE session_id = $1 AND seq > $2 "
        "AND seq <= $3 ORDER BY seq ASC LIMIT $4"
    )
)
_PAGE_BEFORE = Statement(
    lambda: (
        f"SELECT {MESSAGE_COLUMNS.select()} FROM message WHERE session_id = $1 AND seq < $2 "
        "ORDER BY seq DESC LIMIT $3"
    )
)


def _per_segment(dialect: Dialect, condition: str) -> str:
    """`FROM lineage l` and the messages `m` of each segment that meet `condition`.

    Each segment must be read through the (session_id, seq) index, one probe
    per segment. Left to themselves, PostgreSQL may hash-join a scan of the
    whole message table (a LATERAL subquery behind an OFFSET 0 fence forces
    the probes) and SQLite may scan the table too (CROSS JOIN keeps its join
    order: the lineage outside, the index inside).
    """
    if dialect is Dialect.POSTGRES:
        return (
            "FROM lineage l CROSS JOIN LATERAL (SELECT * FROM message m "
            f"WHERE m.session_id = l.id AND {condition} OFFSET 0) m"
        )
    return f"FROM lineage l CROSS JOIN message m WHERE m.session_id = l.id AND {condition}"


def _lineage_range(dialect: Dialect) -> str:
    """A fork's messages with `$2 < seq <= $3`, from each segment that overlaps the range."""
    condition = (
        "m.seq > CASE WHEN l.lo > $2 THEN l.lo ELSE $2 END "
        "AND m.seq <= CASE WHEN l.hi < $3 THEN l.hi ELSE $3 END "
        "AND l.lo < $3 AND l.hi > $2 AND l.lo < l.hi"
    )
    return f"{SELF_LINEAGE} SELECT {MESSAGE_COLUMNS.select('m')} {_per_segment(dialect, condition)}"


_LINEAGE_RANGE_PG = Statement(lambda: _lineage_range(Dialect.POSTGRES), only=Dialect.POSTGRES)
_LINEAGE_RANGE_SQLITE = Statement(lambda: _lineage_range(Dialect.SQLITE), only=Dialect.SQLITE)
_LATEST_WITH_ROLE = Statement(
    lambda: (
        f"SELECT {MESSAGE_COLUMNS.select()} FROM message WHERE session_id = $1 AND seq > $2 "
        "AND seq <= $3 AND role = $4 ORDER BY seq DESC LIMIT 1"
    )
)
_READABLE = f"status IN ({literals(READABLE_MESSAGE_STATUSES)})"
_READABLE_VALUES = frozenset(status.value for status in READABLE_MESSAGE_STATUSES)
# The session's ancestors only (its own messages are read by the first branch):
# `top` is the session's fork point, NULL for a session that is no fork.
_ANCESTORS = lineage_cte(
    "SELECT p.id, p.parent_id, COALESCE(p.forked_at_seq, 0), s.forked_at_seq, 1, "
    "s.forked_at_seq FROM chat_session s JOIN chat_session p ON p.id = s.parent_id WHERE s.id = $1"
)


def _window(dialect: Dialect) -> str:
    """The session's own newest `$3` readable messages, then what a fork shares below them.

    Of the shared messages, those in the `$3` seqs below the fork point are
    all a window can need. Messages posted without a run (run_id NULL) are
    history too: `NULL NOT IN (…)` is not true, so they need their own
    clause. The shared part is filtered by status and merged in
    `history_window`: on SQLite, a status condition there makes the planner
    scan the message table.
    """
    shared = "m.seq > CASE WHEN l.lo > l.top - $3 THEN l.lo ELSE l.top - $3 END AND m.seq <= l.hi"
    return (
        f"{_ANCESTORS}SELECT seq, status, {_TURN_COLUMNS.select()} FROM ("
        f"SELECT seq, status, {_TURN_COLUMNS.select()} FROM message WHERE session_id = $1 "
        f"AND {_READABLE} "
        "AND (run_id IS NULL OR run_id NOT IN (SELECT id FROM run WHERE session_id = $1 "
        f"AND status = {literal(RunStatus.QUEUED)} AND id <> $2)) "
        "ORDER BY seq DESC LIMIT $3) own "
        f"UNION ALL SELECT m.seq, m.status, {_TURN_COLUMNS.select('m')} "
        f"{_per_segment(dialect, shared)}"
    )


_WINDOW_PG = Statement(lambda: _window(Dialect.POSTGRES), only=Dialect.POSTGRES)
_WINDOW_SQLITE = Statement(lambda: _window(Dialect.SQLITE), only=Dialect.SQLITE)


def _on(database: Database, postgres: Statement, sqlite: Statement) -> Statement:
    """The statement written for the database's dialect."""
    return postgres if database.is_postgres else sqlite


def _by_seq(row: dict[str, Any]) -> int:
    return int(row["seq"])


def _page_range(direction: str, seq: int, limit: int, count: int) -> tuple[int, int]:
    """The seqs (after, upto] that hold the page: `limit` seqs after `seq`, or before it."""
    if direction == "after":
        return seq, min(seq + limit, MAX_SEQ)
    upto = min(seq - 1, count)
    return max(upto - limit, 0), upto


_CHECKPOINT = Statement(lambda: "UPDATE message SET content = $1, updated_at = $2 WHERE id = $3")


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to append; the append assigns its seq."""

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
    """One message to append to one session."""

    session_id: UUID
    draft: MessageDraft


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The stored message, and whether this request created it."""

    message: Message
    created: bool


AppendOutcome = AppendResult | BaseException


def replay(message: Message, draft: MessageDraft) -> AppendOutcome:
    """Answer a repeated client_message_id: the original if the body is the same, else 409."""
    same_body = (
        message.role == draft.role
        and message.content == draft.content
        and (message.metadata or {}) == (draft.metadata or {})
    )
    if same_body:
        return AppendResult(message, created=False)
    return Conflict(
        "This client_message_id was already used with a different body.",
        code=ErrorCode.IDEMPOTENCY_CONFLICT,
        data={"message_id": str(message.id)},
    )


class _Append:
    """One batch of appends inside one transaction."""

    def __init__(self, database: Database, requests: Sequence[AppendRequest], now: datetime):
        self._database = database
        self._requests = requests
        self._now = now
        self._outcomes: list[AppendOutcome | None] = [None] * len(requests)

    async def run(self) -> list[AppendOutcome]:
        stored = await self._stored_by_client_id()
        first_in_batch: dict[tuple[UUID, str], int] = {}
        to_insert: list[int] = []
        for index, request in enumerate(self._requests):
            key = _client_key(request)
            if key is not None and key in stored:
                self._outcomes[index] = replay(stored[key], request.draft)
            elif key is not None and key in first_in_batch:
                continue  # resolved against the first occurrence after the insert
            else:
                if key is not None:
                    first_in_batch[key] = index
                to_insert.append(index)
        inserted = await self._insert(to_insert)
        for index, request in enumerate(self._requests):
            key = _client_key(request)
            if self._outcomes[index] is None and key is not None:
                original = inserted.get(first_in_batch[key])
                self._outcomes[index] = (
                    replay(original, request.draft) if original else session_not_found()
                )
        return [o if o is not None else session_not_found() for o in self._outcomes]

    async def _stored_by_client_id(self) -> dict[tuple[UUID, str], Message]:
        """Messages already stored under the batch's client_message_ids."""
        keys = {key for request in self._requests if (key := _client_key(request)) is not None}
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

    async def _insert(self, indexes: list[int]) -> dict[int, Message]:
        """Reserve seqs per session and insert the messages in one statement."""
        per_session: dict[UUID, list[int]] = defaultdict(list)
        for index in indexes:
            per_session[self._requests[index].session_id].append(index)
        if not per_session:
            return {}
        if len(per_session) > 1:
            # Several rows: locked in id order first (one UPDATE would lock them in scan
            # order). A single row is locked by its UPDATE at the same point.
            await lock_in_id_order(self._database, ChatSession, per_session)
        increments = {session_id: len(members) for session_id, members in per_session.items()}
        counts = await ChatSession.allocate_seqs(self._database, increments, self._now)
        messages: dict[int, Message] = {}
        for session_id, members in per_session.items():
            if session_id not in counts:
                for index in members:
                    self._outcomes[index] = session_not_found()
                continue
            first_seq = counts[session_id] - len(members) + 1
            for offset, index in enumerate(members):
                messages[index] = self._build(self._requests[index], first_seq + offset)
        if messages:
            await Message.bulk_create(list(messages.values()))
        for index, message in messages.items():
            self._outcomes[index] = AppendResult(message, created=True)
        return messages

    def _build(self, request: AppendRequest, seq: int) -> Message:
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
            created_at=self._now,
            updated_at=self._now,
        )


def _client_key(request: AppendRequest) -> tuple[UUID, str] | None:
    cmid = request.draft.client_message_id
    return (request.session_id, cmid) if cmid is not None else None
