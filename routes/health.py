"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from core.database.schema import check_readiness
from core.errors import ErrorCode, ServiceUnavailable
from routes.problems import problem_responses
from services.metrics import CONTENT_TYPE_LATEST, Metrics

router = APIRouter(tags=["health"])


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


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Expose the Prometheus metrics of this process (text format)."""
    registry: Metrics = request.app.state.metrics
    return Response(await registry.render(), media_type=CONTENT_TYPE_LATEST)
