"""Liveness and readiness probes."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from core.database.schema import check_readiness
from core.errors import ErrorCode, ServiceUnavailable, Unauthorized
from routes.deps import SettingsDep
from routes.problems import problem_responses
from services.metrics import CONTENT_TYPE_LATEST, Metrics

router = APIRouter(tags=["health"])
_bearer = HTTPBearer(auto_error=False)


class HealthRead(BaseModel):
    """Probe answer."""

    status: str


@router.get("/healthz", response_model=HealthRead)
async def healthz() -> HealthRead:
    """Report that the process is alive."""
    return HealthRead(status="ok")


@router.get(
    "/readyz",
    response_model=HealthRead,
    responses=problem_responses(503),
)
async def readyz() -> HealthRead:
    """Report whether the database is reachable and at the migration head."""
    readiness = await check_readiness()
    if not readiness.ready:
        raise ServiceUnavailable(
            readiness.detail,
            code=ErrorCode(readiness.code),
            data={"pending_migrations": list(readiness.pending)},
        )
    return HealthRead(status="ready")


async def metrics_reader(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the scrape through if no metrics token is set, or if it sends that token."""
    token = settings.metrics_token
    if token is None:
        return
    sent = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(sent.encode(), token.get_secret_value().encode()):
        raise Unauthorized("GET /metrics needs the metrics token (TERRAPIN_METRICS_TOKEN).")


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(metrics_reader)])
async def metrics(request: Request) -> Response:
    """Expose the Prometheus metrics of this process (text format)."""
    registry: Metrics = request.app.state.metrics
    return Response(await registry.render(), media_type=CONTENT_TYPE_LATEST)
