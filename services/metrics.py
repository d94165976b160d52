"""Prometheus metrics: one registry per app, built by `create_app`, never at import.

Series (all prefixed `terrapin_`):

- `http_requests_total{method,route,status}` and
  `http_request_duration_seconds{method,route,status}`: `route` is the
  matched route template with its prefix (`/api/v1/sessions/{session_id}`),
  or `<unmatched>`; raw paths never become labels.
- `db_pool_size`, `db_pool_max_size`, `db_pool_in_use`, `db_pool_waiting`:
  the asyncpg pool at scrape time (SQLite: one connection).
- `group_commit_batch_size{writer}`, `group_commit_wait_seconds{writer}`
  (queue wait of the oldest item of a batch), `group_commit_flush_seconds{writer}`.
- `event_log_write_lag_seconds`: from `emit` to the commit that holds the
  event (the oldest event of each batch).
- `sse_streams_open`: responses with `Content-Type: text/event-stream` still
  streaming (counted by the request middleware, so every SSE route is covered).
- `runs{status}` (active runs), `approvals_pending` and
  `approval_oldest_pending_age_seconds`: read from the database at scrape time.
- `runs_finished_total{status}`: for the run code to bump,
  `metrics.runs_finished.labels("completed").inc()`.
- `sweeper_actions_total{action}`: repairs the sweeper made (interrupted, ended, expired,
  resumed, answered).
- `agent_tokens_total{agent,kind}`: tokens the model rounds of runs used, by agent name and
  `kind` (`prompt` or `completion`), as the providers report them.

Plus the standard `process_*` and `python_*` series of prometheus_client.

With several workers (`runserver --workers N`), `PROMETHEUS_MULTIPROC_DIR`
names a folder where every worker writes its values; a scrape, whichever
worker answers it, adds them up (prometheus_client's multiprocess mode):
counters and histograms are totals over the workers, `sse_streams_open` and
the pool gauges sums over the live workers, the database-derived gauges the
latest reading. Each worker publishes its pool use and its standard
`process_*`/`python_*` series every second, labelled with its `pid`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from tortoise import connections
from tortoise.functions import Count, Min

from agent import Usage
from core.clock import utcnow
from models import ACTIVE_RUN_STATUSES, Approval, ApprovalStatus, Run, RunStatus

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

SWEEPER_ACTIONS = ("interrupted", "ended", "expired", "resumed", "answered")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
# How a scrape combines the workers' values of a gauge (prometheus_client's names).
CombineMode = Literal["livesum", "mostrecent", "liveall"]
SAMPLE_SECONDS = 1.0  # how often a worker of several publishes its own gauges


class Metrics:
    """Every series of one app, registered on the app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Set by `runserver --workers N` (prometheus_client reads it when first imported).
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        # The standard process and Python series: on the app's registry in one process;
        # with several, on a registry of their own that `sampling` publishes per worker.
        self._standard = self.registry if self.multiprocess_dir is None else CollectorRegistry()
        ProcessCollector(registry=self._standard)
        PlatformCollector(registry=self._standard)
        GCCollector(registry=self._standard)
        self._published: dict[str, Gauge] = {}
        self._define_http()
        self._define_database()
        self._define_runs()

    def _define_http(self) -> None:
        labels = ["method", "route", "status"]
        self.http_requests = Counter(
            "terrapin_http_requests",
            "HTTP requests answered, by route template and status.",
            labels,
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "terrapin_http_request_duration_seconds",
            "Time to answer an HTTP request (to the end of the body), by route template.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sse_streams = self._gauge(
            "terrapin_sse_streams_open", "Open SSE responses.", "livesum"
        )

    def _define_database(self) -> None:
        r = self.registry
        # Each worker has a pool of its own: the totals are sums.
        self.pool_size = self._gauge(
            "terrapin_db_pool_size", "Open database connections.", "livesum"
        )
        self.pool_max = self._gauge("terrapin_db_pool_max_size", "Pool size limit.", "livesum")
        self.pool_in_use = self._gauge(
            "terrapin_db_pool_in_use", "Connections checked out.", "livesum"
        )
        self.pool_waiting = self._gauge(
            "terrapin_db_pool_waiting", "Tasks waiting for a pooled connection.", "livesum"
        )
        self.batch_size = Histogram(
            "terrapin_group_commit_batch_size",
            "Items committed per group-commit transaction.",
            ["writer"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_wait = Histogram(
            "terrapin_group_commit_wait_seconds",
            "Queue wait of the oldest item of a batch before its transaction began.",
            ["writer"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.batch_flush = Histogram(
            "terrapin_group_commit_flush_seconds",
            "Duration of one group-commit transaction.",
            ["writer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_write_lag = Histogram(
            "terrapin_event_log_write_lag_seconds",
            "Time from emitting a run event to the commit that holds it.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _define_runs(self) -> None:
        r = self.registry
        # Read from the database at scrape time: the same for every worker, latest wins.
        self.runs = self._gauge("terrapin_runs", "Active runs by status.", "mostrecent", ["status"])
        self.runs_finished = Counter(
            "terrapin_runs_finished", "Runs that reached a terminal status.", ["status"], registry=r
        )
        self.approvals_pending = self._gauge(
            "terrapin_approvals_pending", "Approvals waiting for a decision.", "mostrecent"
        )
        self.approval_oldest_age = self._gauge(
            "terrapin_approval_oldest_pending_age_seconds",
            "Age of the oldest pending approval (0 when none).",
            "mostrecent",
        )
        for status in RunStatus:
            if status.is_terminal:
                self.runs_finished.labels(status.value)
        self.sweeper_actions = Counter(
            "terrapin_sweeper_actions",
            "Repairs done by the sweeper, by action.",
            ["action"],
            registry=r,
        )
        for action in SWEEPER_ACTIONS:
            self.sweeper_actions.labels(action)
        self.agent_tokens = Counter(
            "terrapin_agent_tokens",
            "Tokens used by model rounds, by agent name and kind (prompt or completion).",
            ["agent", "kind"],
            registry=r,
        )

    def _gauge(
        self, name: str, documentation: str, mode: CombineMode, labels: Sequence[str] = ()
    ) -> Gauge:
        """A gauge of the app; `mode` says how a scrape combines the workers' values."""
        return Gauge(name, documentation, labels, registry=self.registry, multiprocess_mode=mode)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template."""
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route, str(status)).observe(seconds)

    def group_commit_observer(self, writer: str) -> Any:
        """Return the callback a GroupCommitter calls after each batch."""
        size, wait, flush = (
            self.batch_size.labels(writer),
            self.batch_wait.labels(writer),
            self.batch_flush.labels(writer),
        )
        lag = self.event_write_lag if writer == "event-writer" else None

        def observe(items: int, wait_seconds: float, flush_seconds: float) -> None:
            size.observe(items)
            wait.observe(wait_seconds)
            flush.observe(flush_seconds)
            if lag is not None:
                lag.observe(wait_seconds + flush_seconds)

        return observe

    def count_finished_run(self, status: str) -> None:
        """Count a run that reached a terminal status."""
        self.runs_finished.labels(status).inc()

    def count_usage(self, agent: str, usage: Usage) -> None:
        """Count the tokens one model round of an agent used."""
        self.agent_tokens.labels(agent, "prompt").inc(usage.prompt_tokens)
        self.agent_tokens.labels(agent, "completion").inc(usage.completion_tokens)

    def count_sweeper_action(self, action: str, count: int) -> None:
        """Count repairs the sweeper made."""
        self.sweeper_actions.labels(action).inc(count)

    async def refresh(self) -> None:
        """Read the gauges that live in the database and the pool."""
        self._refresh_pool()
        counts = dict(
            await Run.filter(status__in=ACTIVE_RUN_STATUSES)
            .annotate(n=Count("id"))
            .group_by("status")
            .values_list("status", "n")
        )
        for status in ACTIVE_RUN_STATUSES:
            self.runs.labels(status.value).set(counts.get(status, 0))
        row = (
            await Approval.filter(status=ApprovalStatus.PENDING)
            .annotate(n=Count("id"), oldest=Min("created_at"))
            .values("n", "oldest")
        )[0]
        self.approvals_pending.set(row["n"] or 0)
        oldest = row["oldest"]
        self.approval_oldest_age.set((utcnow() - oldest).total_seconds() if oldest else 0)

    def _refresh_pool(self) -> None:
        client = connections.get("default")
        pool = getattr(client, "_pool", None)
        if pool is None:  # SQLite: one connection, serialised by the client's lock
            lock = getattr(client, "_lock", None)
            self.pool_size.set(1)
            self.pool_max.set(1)
            self.pool_in_use.set(1 if lock is not None and lock.locked() else 0)
            self.pool_waiting.set(0)
            return
        size = pool.get_size()
        self.pool_size.set(size)
        self.pool_max.set(pool.get_max_size())
        self.pool_in_use.set(size - pool.get_idle_size())
        self.pool_waiting.set(getattr(pool, "waiting", 0))

    async def render(self) -> bytes:
        """Refresh the scrape-time gauges and render the text format (every worker's, summed)."""
        await self.refresh()
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        workers = CollectorRegistry()
        MultiProcessCollector(workers, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(workers)

    @asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        """While the app runs: a worker of several publishes its own gauges every second.

        Only the worker that answers a scrape refreshes its gauges then; the
        others' pool use and process figures would be stale without this.
        """
        if self.multiprocess_dir is None:
            yield
            return
        task = asyncio.create_task(self._sample_forever(), name="metrics-sampler")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _sample_forever(self) -> None:
        while True:
            self._refresh_pool()
            self._publish_standard()
            await asyncio.sleep(SAMPLE_SECONDS)

    def _publish_standard(self) -> None:
        """Copy this process's standard series into gauges that keep one series per worker."""
        for family in self._standard.collect():
            for sample in family.samples:
                gauge = self._published.get(sample.name)
                if gauge is None:
                    # "liveall": one series per live worker, labelled with its pid.
                    gauge = self._published[sample.name] = self._gauge(
                        sample.name, family.documentation, "liveall", sorted(sample.labels)
                    )
                (gauge.labels(**sample.labels) if sample.labels else gauge).set(sample.value)
