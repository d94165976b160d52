"""Serve the API with uvicorn on the app factory.

A SIGTERM is a normal, graceful stop here: the process exits 0 once the
lifespan has drained pending writes (uvicorn would re-raise the signal).
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType

import uvicorn

from project.management.base import BaseCommand, CommandError
from project.settings import Settings


class GracefulServer(uvicorn.Server):
    """A uvicorn Server that treats SIGTERM as a successful shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)


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
        options_for_uvicorn = {
            "factory": True,
            "host": options.host,
            "port": options.port,
            "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds) + 5,
            "log_level": settings.log_level.lower(),
            "access_log": False,  # terrapin.access logs each request with its route template
        }
        if options.workers > 1 or options.reload:
            uvicorn.run(
                "project.app:create_app",
                workers=options.workers,
                reload=options.reload,
                **options_for_uvicorn,
            )
            return 0
        GracefulServer(uvicorn.Config("project.app:create_app", **options_for_uvicorn)).run()
        return 0
