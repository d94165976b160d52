"""The application factory and its lifespan; nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from tortoise.contrib.fastapi import RegisterTortoise

from agent import PluginError, ToolCatalog, load_tool_catalog
from core.database import Database, tortoise_config
from core.settings import Settings, SettingsError, load_settings, settings_warnings
from project.logging import configure_logging
from project.middleware import RequestContextMiddleware
from routes import API_PREFIX, api_routers, health_router
from routes.openapi import install_openapi
from routes.problems import install_problem_handlers
from services import Services
from services.metrics import Metrics
from services.runs.agent import check_agent_settings

log = logging.getLogger("terrapin.app")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Terrapin ASGI app for `settings` (default: from the environment).

    A broken plugin tool stops it here with one line naming it, as a bad setting does.
    """
    warnings: list[str] = []
    try:
        if settings is None:  # a worker of `runserver --workers N`, or `uvicorn --factory`
            settings = load_settings()
            check_agent_settings(settings)
            warnings = settings_warnings()
        catalog = load_tool_catalog()
    except (SettingsError, PluginError) as exc:
        raise SystemExit(f"terrapin: {exc}") from None
    configure_logging(settings)
    for warning in warnings:
        log.warning("%s", warning)
    # /docs and /redoc serve Swagger UI and ReDoc from the fastapi-offline package,
    # not from a CDN: they work on a machine without internet access.
    app = FastAPIOffline(
        title="Terrapin",
        version=version("terrapin"),
        summary="Async backend for AI-agent conversations.",
        lifespan=_lifespan_for(settings, catalog),
    )
    install_problem_handlers(app)
    install_openapi(app)
    app.state.metrics = metrics = Metrics()
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_bytes,
        metrics=metrics,
        private_prefix=API_PREFIX + "/",
    )
    app.include_router(health_router)
    for router in api_routers:
        # Their routes that take a body refuse one over the limit (routes/bodies.py).
        app.include_router(router, prefix=API_PREFIX)
    return app


def _lifespan_for(settings: Settings, catalog: ToolCatalog) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        """Open the ORM, start the managers; on exit drain writes, then close the pools."""
        async with (
            RegisterTortoise(app, config=tortoise_config(settings)),
            Database.opened(settings) as database,
            app.state.metrics.sampling(),
        ):
            services = Services.build(settings, database, app.state.metrics, catalog)
            await services.start()
            app.state.services = services  # for tests and in-process tools
            log.info("terrapin started (database: %s)", database.dialect)
            try:
                yield {"services": services}
            finally:
                await services.stop()
                log.info("terrapin stopped")

    return lifespan
