"""HTTP routes: the versioned API router and the health probes."""

from fastapi import APIRouter

from routes import agent, approvals, context, health, messages, runs, sessions

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(sessions.router)
api_router.include_router(messages.router)
api_router.include_router(context.router)
api_router.include_router(agent.router)
api_router.include_router(runs.router)
api_router.include_router(approvals.router)

health_router = health.router

__all__ = ["api_router", "health_router"]
