"""Gunicorn's settings for `python -m project runserver --workers N`.

The runserver command starts the gunicorn master with these settings, the
bind address and the number of workers. Each worker is a
`DrainingWorker` serving `create_app()`, so a SIGTERM to the master drains
every worker as one process would drain itself.
"""

from __future__ import annotations

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
