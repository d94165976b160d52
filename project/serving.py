"""The uvicorn server every Terrapin process serves with, alone or as a gunicorn worker.

A SIGTERM is a normal, graceful stop: as soon as the server stops accepting
connections, new runs are refused, streams that wait for a human end
(clients resume with Last-Event-ID) and running runs get the grace period;
then pending writes are flushed and the process exits 0 (uvicorn alone
would re-raise the signal and die by it).
"""

from __future__ import annotations

import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from gunicorn.arbiter import Arbiter
from uvicorn_worker import UvicornWorker

from core.settings import load_settings


def graceful_timeout(shutdown_grace_seconds: float) -> int:
    """How long uvicorn waits for open connections on shutdown.

    Running runs get the grace, and their streams end right after: a little
    more than the grace, so nothing is cut while it drains as planned.
    """
    return int(shutdown_grace_seconds) + 5


class GracefulServer(uvicorn.Server):
    """A uvicorn Server that drains Terrapin first and treats SIGTERM as success."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The app's lifespan hands its Services to the server through the lifespan state.
        lifespan = getattr(self, "lifespan", None)
        services = getattr(lifespan, "state", {}).get("services")
        if services is not None:
            services.begin_drain()
        await super().shutdown(sockets)


class DrainingWorker(UvicornWorker):  # type: ignore[misc]  # gunicorn is untyped
    """A gunicorn worker serving with GracefulServer (`runserver --workers N`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        grace = load_settings().shutdown_grace_seconds
        self.config.timeout_graceful_shutdown = graceful_timeout(grace)

    async def _serve(self) -> None:
        # UvicornWorker._serve with GracefulServer in place of uvicorn.Server.
        self.config.app = self.wsgi
        server = GracefulServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            raise SystemExit(Arbiter.WORKER_BOOT_ERROR)
