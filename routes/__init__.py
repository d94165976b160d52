"""HTTP routes: the versioned API routers and the health probes."""

from fastapi import APIRouter

from routes import (
    agent,
    agents,
    approvals,
    branches,
    client_tools,
    context,
    health,
    messages,
    run_history,
    runs,
    sessions,
    tools,
)

API_PREFIX = "/api/v1"

# Included into the app one by one under API_PREFIX rather than through one
# nested router: every nesting level is another routing pass per request.
api_routers: list[APIRouter] = [
    sessions.router,
    messages.router,
    branches.router,
    context.router,
    agent.router,
    runs.router,
    approvals.router,
    agents.router,
    tools.router,
    client_tools.router,
    run_history.router,
]

health_router = health.router

__all__ = ["API_PREFIX", "api_routers", "health_router"]
