"""SessionManager: chat sessions and their message history, scoped to the caller."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import BadRequest, Conflict, ErrorCode, session_not_found
from models import (
    AgentContext,
    AppendRequest,
    AppendResult,
    ChatSession,
    Message,
    MessageDraft,
    SessionStatus,
)
from services.agents import AgentManager
from services.auth import Caller
from services.common.group_commit import GroupCommitter
from services.common.pagination import (
    Page,
    SeqPosition,
    newest_first,
    parse_seq_cursor,
    seq_cursor,
)

# One stored message as a row: the API's field names, JSON columns decoded.
MessageRow = dict[str, Any]


class SessionManager:
    """Create, read, update and delete sessions; append and page messages."""

    def __init__(
        self,
        database: Database,
        writer: GroupCommitter[AppendRequest, AppendResult],
        agents: AgentManager,
    ) -> None:
        self._database = database
        self._writer = writer
        self._agents = agents

    async def get(self, caller: Caller, session_id: UUID, *, write: bool = False) -> ChatSession:
        """Load one session, or raise the same 404 for unknown and foreign ids."""
        session = await ChatSession.live(self._database, session_id)
        return self.reachable(caller, session, write=write)

    def reachable(
        self, caller: Caller, session: ChatSession | None, *, write: bool = False
    ) -> ChatSession:
        """`session` if the caller may read it (or, with `write`, change it); else the 404.

        Unknown, deleted and foreign sessions get the same 404: an id says
        nothing about sessions the caller cannot see.
        """
        if session is None or not caller.reaches(session.owner_id, write=write):
            raise session_not_found()
        return session

    async def create(
        self, caller: Caller, *, title: str, agent: str, metadata: dict[str, Any]
    ) -> ChatSession:
        """Create a session together with its empty agent context; its agent must exist."""
        await self._agents.check_for_new_session(caller.user_id, agent)
        async with in_transaction():
            session = await ChatSession.create(
                owner_id=caller.user_id, title=title, agent=agent, metadata=metadata
            )
            await AgentContext.create(session=session)
        return session

    async def list(
        self, caller: Caller, *, limit: int, cursor: str | None, status: SessionStatus | None
    ) -> Page[ChatSession]:
        """List sessions newest first, by (updated_at, id) keyset."""
        query = caller.scope(ChatSession.filter(deleted_at__isnull=True), "owner_id", write=False)
        if status is not None:
            query = query.filter(status=status)
        return await newest_first(query, "updated_at", limit, cursor)

    async def update(self, session: ChatSession, changes: dict[str, Any]) -> ChatSession:
        """Apply a partial update (title, metadata, status)."""
        if changes:
            await ChatSession.filter(id=session.id).update(**changes, updated_at=utcnow())
        return await ChatSession.get(id=session.id)

    async def delete(self, session: ChatSession) -> None:
        """Delete a session; its forks keep showing what they share with it.

        A session that still has forks is only marked deleted (hidden from
        every lookup and list) and keeps its rows; otherwise it is removed
        with everything in it (messages, context, runs and approvals
        cascade), and so is each deleted ancestor no fork needs any more.
        """
        async with in_transaction():
            target = await ChatSession.locked(session.id)
            if target is None:
                raise session_not_found()  # deleted meanwhile
            if await ChatSession.has_forks(target.id):
                await ChatSession.mark_deleted(target.id, utcnow())
            else:
                await _remove_with_unneeded_ancestors(target)

    async def append(self, session: ChatSession, draft: MessageDraft) -> AppendResult:
        """Append a message durably; returns once its batch has committed."""
        if session.status is SessionStatus.ARCHIVED:
            raise Conflict("The session is archived.", code=ErrorCode.SESSION_ARCHIVED)
        return await self._writer.submit(AppendRequest(session.id, draft))

    async def messages(
        self,
        session: ChatSession,
        *,
        limit: int,
        after_seq: int | None,
        before_seq: int | None,
        cursor: str | None,
    ) -> Page[MessageRow]:
        """Page history ascending: after a seq, the page just before a seq, or between both."""
        position = _history_position(after_seq, before_seq, cursor)
        rows = await Message.page(
            self._database,
            session,
            position.direction,
            position.seq,
            limit + 1,
            below=position.below,
        )
        more = len(rows) > limit
        if position.direction == "after":
            items = rows[:limit]
            next_position = replace(position, seq=items[-1]["seq"]) if more else None
        else:
            items = list(reversed(rows[:limit]))
            next_position = replace(position, seq=items[0]["seq"]) if more else None
        return Page(items, seq_cursor(next_position) if next_position else None)


def _history_position(
    after_seq: int | None, before_seq: int | None, cursor: str | None
) -> SeqPosition:
    """Where a history page starts; a cursor already says so, and is not combined with seqs."""
    if cursor is not None:
        if after_seq is not None or before_seq is not None:
            raise BadRequest(
                "A cursor continues a listing: send it without after_seq or before_seq.",
                code=ErrorCode.CONFLICTING_PARAMETERS,
            )
        return parse_seq_cursor(cursor)
    if after_seq is not None:
        return SeqPosition("after", after_seq, before_seq)
    if before_seq is not None:
        return SeqPosition("before", before_seq)
    return SeqPosition("after", 0)


async def _remove_with_unneeded_ancestors(session: ChatSession) -> None:
    """Remove a session without forks, then each deleted ancestor left without forks.

    Each parent's row is locked before its child is removed, so of two forks
    deleted at once the second sees the first gone and removes the parent.
    """
    parent_id = session.parent_id
    while True:
        parent = await ChatSession.locked(parent_id, deleted=True) if parent_id else None
        await ChatSession.filter(id=session.id).delete()
        if parent is None or parent.deleted_at is None or await ChatSession.has_forks(parent.id):
            return
        session, parent_id = parent, parent.parent_id
