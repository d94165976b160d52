"""Services: every manager, built and started by the app lifespan (or a script)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent import AgentRunner
from project.db import connection_config
from project.settings import Settings
from services.agent_bridge import build_runner
from services.context import AgentContextManager
from services.events import EventDraft, EventLog
from services.group_commit import GroupCommitter
from services.hitl import HITLManager
from services.message_writer import AppendRequest, AppendResult, write_batch
from services.notifier import PgListener
from services.raw_sql import SqliteReader, use_reader
from services.run_executor import RunExecutor
from services.runs import RunManager
from services.sessions import SessionManager
from services.stream_hub import StoredEvent, StreamHub
from services.sweeper import Sweeper
from services.users import UserService


@dataclass
class Services:
    """The managers of one process; the only code that writes to the database."""

    settings: Settings
    users: UserService
    sessions: SessionManager
    contexts: AgentContextManager
    events: EventLog
    hitl: HITLManager
    runs: RunManager
    executor: RunExecutor
    sweeper: Sweeper
    runner: AgentRunner
    message_writer: GroupCommitter[AppendRequest, AppendResult]
    event_writer: GroupCommitter[EventDraft, StoredEvent]
    listener: PgListener | None = None
    reader: SqliteReader | None = None
    _drain: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Wire the managers from settings (no I/O)."""
        wait = settings.group_commit_max_wait_ms / 1000
        message_writer: GroupCommitter[AppendRequest, AppendResult] = GroupCommitter(
            write_batch,
            max_batch=settings.group_commit_max_batch,
            max_wait_seconds=wait,
            name="message-writer",
        )
        hub = StreamHub()
        events = EventLog(
            hub,
            settings.stream_poll_seconds,
            max_batch=settings.group_commit_max_batch,
            max_wait_seconds=wait,
        )
        sessions = SessionManager(message_writer)
        contexts = AgentContextManager(settings.max_context_bytes)
        runner = build_runner(settings)
        executor = RunExecutor(settings, events, contexts, runner)
        hitl = HITLManager(
            events, runner.registry, settings.approval_ttl_seconds, executor.schedule
        )
        executor.hitl = hitl
        return cls(
            settings=settings,
            users=UserService(),
            sessions=sessions,
            contexts=contexts,
            events=events,
            hitl=hitl,
            runs=RunManager(sessions, events, executor, hitl),
            executor=executor,
            sweeper=Sweeper(
                executor,
                hitl,
                settings.sweep_interval_seconds,
                settings.is_sqlite,
                settings.run_lease_seconds,
            ),
            runner=runner,
            message_writer=message_writer,
            event_writer=events.writer,
            listener=None if settings.is_sqlite else PgListener(settings.database_url, hub),
            reader=_sqlite_reader(settings),
        )

    async def start(self, *, drive_runs: bool = True) -> None:
        """Start the writers; a server also repairs leftovers, sweeps and drives runs.

        Shells and admin scripts pass `drive_runs=False`: they share the
        database with a running server, so they must neither sweep (on SQLite
        the startup sweep assumes it is the only server) nor drive runs; runs
        they start or resume are picked up by the server's sweeper.
        """
        if self.reader is not None:
            await self.reader.open()
            use_reader(self.reader)
        await self.message_writer.start()
        await self.event_writer.start()
        if not drive_runs:
            self.executor.drive_here = False
            return
        if self.listener is not None:
            await self.listener.start()
        await self.sweeper.start()

    def begin_drain(self) -> None:
        """Shutdown has begun: refuse new runs, end idle streams, start the grace period.

        Called by the server as soon as it stops accepting connections, so
        streams of runs that wait for a human end now (clients resume them
        with Last-Event-ID) and running runs get the grace period once.
        """
        if self._drain is None:
            self.executor.accepting = False
            self.events.draining = True
            self._drain = asyncio.create_task(
                self.executor.shutdown(self.settings.shutdown_grace_seconds), name="drain"
            )

    async def stop(self) -> None:
        """Finish or interrupt runs, drain pending writes, stop background work."""
        self.begin_drain()
        assert self._drain is not None
        await self._drain
        await self.sweeper.stop()
        await self.message_writer.stop()
        await self.event_writer.stop()
        if self.listener is not None:
            await self.listener.stop()
        if self.reader is not None:
            use_reader(None)
            await self.reader.close()
        close = getattr(self.runner.provider, "aclose", None)
        if close is not None:
            await close()


def _sqlite_reader(settings: Settings) -> SqliteReader | None:
    """The hot reads' own SQLite connection (None on PostgreSQL, or for an in-memory file)."""
    if not settings.is_sqlite:
        return None
    file_path = str(connection_config(settings)["credentials"]["file_path"])
    if file_path == ":memory:":
        return None  # another connection would open another, empty database
    return SqliteReader(file_path, settings.sqlite_busy_timeout_ms)
