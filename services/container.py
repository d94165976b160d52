"""Services: every manager, built and started by the app lifespan (or a script)."""

from __future__ import annotations

from dataclasses import dataclass

from project.settings import Settings
from services.context import AgentContextManager
from services.group_commit import GroupCommitter
from services.message_writer import AppendRequest, AppendResult, write_batch
from services.sessions import SessionManager
from services.users import UserService


@dataclass
class Services:
    """The managers of one process; the only code that writes to the database."""

    settings: Settings
    users: UserService
    sessions: SessionManager
    contexts: AgentContextManager
    message_writer: GroupCommitter[AppendRequest, AppendResult]

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Wire the managers from settings (no I/O)."""
        writer: GroupCommitter[AppendRequest, AppendResult] = GroupCommitter(
            write_batch,
            max_batch=settings.group_commit_max_batch,
            max_wait_seconds=settings.group_commit_max_wait_ms / 1000,
            name="message-writer",
        )
        return cls(
            settings=settings,
            users=UserService(),
            sessions=SessionManager(writer),
            contexts=AgentContextManager(settings.max_context_bytes),
            message_writer=writer,
        )

    async def start(self) -> None:
        """Start background workers."""
        await self.message_writer.start()

    async def stop(self) -> None:
        """Drain pending writes and stop background workers."""
        await self.message_writer.stop()
