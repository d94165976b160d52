"""Serve the API: one uvicorn process, or a gunicorn master with uvicorn workers.

A SIGTERM is a normal, graceful stop with any number of workers (see
`project/serving.py`): new runs are refused, streams that wait for a human
end (clients resume with Last-Event-ID), running runs get the grace period,
pending writes are flushed, and every process exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import uvicorn

from core.settings import Settings
from project.app import create_app
from project.management.base import BaseCommand, CommandError
from project.serving import GracefulServer, graceful_timeout


class Command(BaseCommand):
    help = "Serve the HTTP API with uvicorn (several workers: under gunicorn)."
    needs_database = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")

    def run(self, options: argparse.Namespace, settings: Settings) -> int:
        if options.workers < 1:
            raise CommandError("--workers must be at least 1")
        if options.workers > 1 and settings.is_sqlite:
            raise CommandError(
                "SQLite serves one process; use DATABASE_URL=postgres://... for --workers > 1"
            )
        if options.workers > 1:
            exec_gunicorn(options.host, options.port, options.workers)
        common = {
            "host": options.host,
            "port": options.port,
            "timeout_graceful_shutdown": graceful_timeout(settings.shutdown_grace_seconds),
            "log_level": settings.log_level.lower(),
            "access_log": False,  # terrapin.access logs each request with its route template
        }
        if options.reload:
            # uvicorn's reloader imports the factory in each process it starts.
            uvicorn.run("project.app:create_app", factory=True, reload=True, **common)
            return 0
        GracefulServer(uvicorn.Config(create_app(settings), **common)).run()
        return 0


def exec_gunicorn(host: str, port: int, workers: int) -> None:
    """Become a gunicorn master serving `workers` DrainingWorkers (`project/gunicorn_conf.py`).

    The master starts as a new program in this process (same process id, so
    whoever started runserver signals the master). The workers' metrics add
    up in a fresh folder: prometheus_client picks its multiprocess mode when
    it is first imported, so the folder must be in the environment before
    that, in the master and in every worker, as a new program has it.
    """
    metrics_dir = tempfile.mkdtemp(prefix="terrapin-metrics-")
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:project.gunicorn_conf"]
    argv += ["--bind", bind, "--workers", str(workers)]
    os.execve(sys.executable, argv, {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir})
