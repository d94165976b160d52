"""BranchManager: fork a session at any message, edit a user message, regenerate a reply.

A fork is one new session row that names its parent and the seq it forked
at; it reads the parent's messages up to that seq instead of copying them
(see docs/branches.md), so forking costs the same at any history length.
Each operation runs in one transaction that holds the parent's row lock:
an append to the parent waits for it, so the fork's count and context are
read as they stand at the fork point.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import Conflict, ErrorCode, UnprocessableEntity, session_not_found
from models import (
    AgentContext,
    AppendRequest,
    ChatSession,
    ContextSnapshot,
    Message,
    MessageDraft,
    MessageRole,
)
from services.auth import Caller
from services.common.pagination import Page, newest_first


class BranchManager:
    """Create forks of sessions and list them."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def fork(
        self,
        session: ChatSession,
        *,
        at_seq: int,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ChatSession:
        """A new session whose history is the session's messages up to `at_seq`."""
        async with in_transaction():
            parent = await self._locked(session.id)
            _check_seq(at_seq, 0, parent.message_count, ["body", "at_seq"])
            return await self._fork(parent, at_seq, title, metadata)

    async def edit(self, session: ChatSession, seq: int, content: str) -> ChatSession:
        """A fork at `seq - 1` whose message `seq` is the user message `seq` with new content."""
        async with in_transaction():
            parent = await self._locked(session.id)
            _check_seq(seq, 1, parent.message_count, ["path", "seq"])
            original = await Message.at_seq(self._database, parent, seq)
            assert original is not None  # seqs 1..message_count all exist
            if original.role is not MessageRole.USER:
                raise Conflict(
                    f"Message {seq} is a {original.role} message; only user messages are edited.",
                    code=ErrorCode.MESSAGE_NOT_EDITABLE,
                    data={"role": str(original.role)},
                )
            fork = await self._fork(parent, seq - 1, None, None)
            draft = MessageDraft(role=MessageRole.USER, content=content, metadata=original.metadata)
            outcome = (
                await Message.append(self._database, [AppendRequest(fork.id, draft)], utcnow())
            )[0]
            if isinstance(outcome, BaseException):
                raise outcome
            return await ChatSession.get(id=fork.id)

    async def regenerate(self, session: ChatSession) -> ChatSession:
        """A fork at the last user message before the session's last assistant reply."""
        async with in_transaction():
            parent = await self._locked(session.id)
            lineage = await ChatSession.lineage(self._database, parent.id)
            end = parent.message_count + 1
            reply = await Message.latest_with_role(
                self._database, lineage, MessageRole.ASSISTANT, end
            )
            question = reply and await Message.latest_with_role(
                self._database, lineage, MessageRole.USER, reply.seq
            )
            if question is None:
                raise Conflict(
                    "The session has no assistant reply to a user message to regenerate.",
                    code=ErrorCode.NOTHING_TO_REGENERATE,
                )
            return await self._fork(parent, question.seq, None, None)

    async def forks(
        self, caller: Caller, session: ChatSession, *, limit: int, cursor: str | None
    ) -> Page[ChatSession]:
        """The session's direct forks, most recently updated first (keyset pages)."""
        query = ChatSession.filter(parent_id=session.id, deleted_at__isnull=True)
        return await newest_first(
            caller.scope(query, "owner_id", write=False), "updated_at", limit, cursor
        )

    async def _locked(self, session_id: UUID) -> ChatSession:
        """The session, its row locked for the transaction; 404 if it was deleted meanwhile."""
        session = await ChatSession.locked(session_id)
        if session is None:
            raise session_not_found()
        return session

    async def _fork(
        self,
        parent: ChatSession,
        at_seq: int,
        title: str | None,
        metadata: dict[str, Any] | None,
    ) -> ChatSession:
        """Insert the fork with its context as of `at_seq` (the parent's row is locked)."""
        newest = await Message.at_seq(self._database, parent, at_seq) if at_seq else None
        fork = await ChatSession.create(
            owner_id=parent.owner_id,
            title=parent.title if title is None else title,
            agent=parent.agent,
            metadata=parent.metadata if metadata is None else metadata,
            message_count=at_seq,
            last_message_at=newest.created_at if newest else None,
            parent_id=parent.id,
            forked_at_seq=at_seq,
        )
        data = await self._context_as_of(parent, at_seq)
        await AgentContext.create(session=fork, data=data)
        await ContextSnapshot.start(fork.id, at_seq, data)
        return fork

    async def _context_as_of(self, session: ChatSession, seq: int) -> dict[str, Any]:
        """The agent context of the session's history right after message `seq`.

        The session on the path that wrote the context then is the nearest
        one whose own stretch starts at or below `seq` (a fork's first
        snapshot sits at its fork point); before any write it was empty.
        """
        for segment in await ChatSession.lineage(self._database, session.id):
            if segment.after <= seq:
                data = await ContextSnapshot.as_of(self._database, segment.session_id, seq)
                return data if data is not None else {}
        return {}


def _check_seq(seq: int, lowest: int, highest: int, loc: list[str]) -> None:
    """A seq outside lowest..highest is a validation error at `loc`."""
    if not lowest <= seq <= highest:
        message = f"must be between {lowest} and {highest}"
        raise UnprocessableEntity(
            f"{loc[-1]} {message} (the session's last seq is {highest}).",
            code=ErrorCode.VALIDATION_ERROR,
            data={"errors": [{"loc": loc, "msg": message, "type": "out_of_range"}]},
        )
