"""Services: every manager of one process, built and started by the app lifespan (or a script)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent import ToolCatalog, load_tool_catalog
from core.database import Database
from core.settings import Settings
from models import AppendRequest, AppendResult
from services.agents import AgentManager, AgentRuntimes
from services.approvals import HITLManager
from services.auth import RateLimiter, UserService
from services.client_tools import ClientToolManager
from services.common.group_commit import GroupCommitter
from services.events import EventDraft, EventLog, PgListener, StoredEvent, StreamHub
from services.metrics import Metrics
from services.runs import RunExecutor, RunHistory, RunLifecycle, RunManager, RunSteps, Sweeper
from services.runs.caps import RunCaps
from services.sessions import (
    AgentContextManager,
    BranchManager,
    MessageBatchWriter,
    SessionManager,
)


@dataclass
class Services:
    """The managers of one process; the only code that writes to the database."""

    settings: Settings
    database: Database
    users: UserService
    rate_limiter: RateLimiter
    sessions: SessionManager
    contexts: AgentContextManager
    branches: BranchManager
    events: EventLog
    hitl: HITLManager
    clients: ClientToolManager
    agents: AgentManager
    runtimes: AgentRuntimes
    runs: RunManager
    history: RunHistory
    lifecycle: RunLifecycle
    executor: RunExecutor
    sweeper: Sweeper
    message_writer: GroupCommitter[AppendRequest, AppendResult]
    event_writer: GroupCommitter[EventDraft, StoredEvent]
    listener: PgListener | None = None
    _drain: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        database: Database,
        metrics: Metrics | None = None,
        catalog: ToolCatalog | None = None,
    ) -> Services:
        """Wire the managers from settings (no I/O); `metrics` observes them if given.

        `catalog` holds the server tools (built-ins and plugins); without it the
        installed plugins are loaded here (PluginError if one is broken).
        """
        catalog = catalog or load_tool_catalog()
        wait = settings.group_commit_max_wait_ms / 1000
        message_writer: GroupCommitter[AppendRequest, AppendResult] = GroupCommitter(
            MessageBatchWriter(database).write_batch,
            max_batch=settings.group_commit_max_batch,
            max_wait_seconds=wait,
            name="message-writer",
            observer=metrics.group_commit_observer("message-writer") if metrics else None,
        )
        hub = StreamHub()
        events = EventLog(
            database,
            hub,
            settings.stream_poll_seconds,
            max_batch=settings.group_commit_max_batch,
            max_wait_seconds=wait,
            observer=metrics.group_commit_observer("event-writer") if metrics else None,
            on_run_finished=metrics.count_finished_run if metrics else None,
        )
        agents = AgentManager(settings, catalog)
        runtimes = AgentRuntimes(settings, catalog)
        sessions = SessionManager(database, message_writer, agents)
        contexts = AgentContextManager(database, settings.max_context_bytes)
        lifecycle = RunLifecycle(database, events, settings.run_lease_seconds)
        on_usage = metrics.count_usage if metrics else None
        steps = RunSteps(database, settings, events, runtimes, contexts, on_usage)
        executor = RunExecutor(settings, lifecycle, steps)
        hitl = HITLManager(events, catalog.registry, executor.schedule)
        clients = ClientToolManager(executor.schedule)
        return cls(
            settings=settings,
            database=database,
            users=UserService(database),
            rate_limiter=RateLimiter(database, settings.rate_limit_per_minute),
            sessions=sessions,
            contexts=contexts,
            branches=BranchManager(database),
            events=events,
            hitl=hitl,
            clients=clients,
            agents=agents,
            runtimes=runtimes,
            runs=RunManager(
                database,
                sessions,
                events,
                lifecycle,
                executor,
                agents,
                settings.max_title_chars,
                RunCaps(settings.max_runs_in_flight_per_user, settings.max_queued_runs_per_user),
            ),
            history=RunHistory(),
            lifecycle=lifecycle,
            executor=executor,
            sweeper=Sweeper(
                database,
                lifecycle,
                executor,
                hitl,
                clients,
                settings.sweep_interval_seconds,
                settings.run_lease_seconds,
                on_action=metrics.count_sweeper_action if metrics else None,
            ),
            message_writer=message_writer,
            event_writer=events.writer,
            listener=None if settings.is_sqlite else PgListener(settings.database_url, hub),
        )

    async def start(self, *, drive_runs: bool = True) -> None:
        """Start the writers; a server also repairs leftovers, sweeps and drives runs.

        Shells and admin scripts pass `drive_runs=False`: they share the
        database with a running server, so they must neither sweep (on SQLite
        the startup sweep assumes it is the only server) nor drive runs; runs
        they start or resume are picked up by the server's sweeper.
        """
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
        await self.runtimes.aclose()
