"""Gunicorn's settings for `python -m project runserver --workers N`.

The runserver command starts the gunicorn master with these settings, the
bind address, the number of workers and `PROMETHEUS_MULTIPROC_DIR` (a fresh
folder per run, where the workers' metrics add up). Each worker is a
`DrainingWorker` serving `create_app()`, so a SIGTERM to the master drains
every worker as one process would drain itself.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from prometheus_client import multiprocess

from core.settings import load_settings
from project.serving import graceful_timeout as _worker_timeout

_settings = load_settings()

wsgi_app = "project.app:create_app()"
worker_class = "project.serving.DrainingWorker"
proc_name = "terrapin"
# Its default path is one per user: two servers of one user would share it.
control_socket_disable = True
loglevel = _settings.log_level.lower()
# The master gives its workers this long to drain before it kills them.
graceful_timeout = _worker_timeout(_settings.shutdown_grace_seconds) + 5


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges (open streams, pool use) leave the totals."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """The master stops: this run's metrics folder goes with it."""
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
