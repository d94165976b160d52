"""Serve the API with uvicorn on the app factory.

A SIGTERM is a normal, graceful stop here: new runs are refused, streams that
wait for a human end (clients resume with Last-Event-ID), running runs get
the grace period, pending writes are flushed, and the process exits 0
(uvicorn alone would re-raise the signal).
"""

from __future__ import annotations

import argparse
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from core.settings import Settings
from project.app import create_app
from project.management.base import BaseCommand, CommandError


class GracefulServer(uvicorn.Server):
    """A uvicorn Server that drains Terrapin first and treats SIGTERM as success."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._terrapin = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self._terrapin.state, "services", None)
        if services is not None:
            services.begin_drain()
        await super().shutdown(sockets)


class Command(BaseCommand):
    help = "Serve the HTTP API with uvicorn."
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
        common: dict[str, Any] = {
            "host": options.host,
            "port": options.port,
            "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds) + 5,
            "log_level": settings.log_level.lower(),
            "access_log": False,  # terrapin.access logs each request with its route template
        }
        if options.workers > 1 or options.reload:
            # uvicorn's supervisors import the factory in each worker process.
            uvicorn.run(
                "project.app:create_app",
                factory=True,
                workers=options.workers,
                reload=options.reload,
                **common,
            )
            return 0
        app = create_app(settings)
        GracefulServer(uvicorn.Config(app, **common), app).run()
        return 0
