"""FastAPI dependency aliases: routes declare what they need by type."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import Approval, Run
from project.errors import Unauthorized
from project.settings import Settings
from services import AgentContextManager, Caller, Services, SessionManager, UserService
from services.events import EventLog
from services.hitl import HITLManager
from services.runs import RunManager
from services.session_records import SessionRecord

_bearer = HTTPBearer(auto_error=False, description="API token from `createuser`")

# Every dependency is `async def`, even those that never await: FastAPI runs a
# plain `def` dependency in its threadpool, one thread hop each per request
# (benchmarks/README.md: a GET went from 4.2 ms to 2.6 ms in-process).
# The ones every request solves (caller, session) reach the managers through
# the request state rather than through further dependencies: each level of
# the dependency graph costs FastAPI work on every request.


def _services(request: Request) -> Services:
    services: Services = request.state.services
    return services


async def get_services(request: Request) -> Services:
    """Return the managers the lifespan built."""
    return _services(request)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    """Return the process settings."""
    return services.settings


async def get_user_service(services: ServicesDep) -> UserService:
    """Return the user/token service."""
    return services.users


async def get_session_manager(services: ServicesDep) -> SessionManager:
    """Return the SessionManager."""
    return services.sessions


async def get_context_manager(services: ServicesDep) -> AgentContextManager:
    """Return the AgentContextManager."""
    return services.contexts


SettingsDep = Annotated[Settings, Depends(get_settings)]
UserServiceDep = Annotated[UserService, Depends(get_user_service)]
SessionManagerDep = Annotated[SessionManager, Depends(get_session_manager)]
ContextManagerDep = Annotated[AgentContextManager, Depends(get_context_manager)]


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """Authenticate the bearer token."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.")
    return await _services(request).users.authenticate(credentials.credentials)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_readable_session(
    session_id: UUID, caller: CallerDep, request: Request
) -> SessionRecord:
    """Load a session the caller may read."""
    return await _services(request).sessions.get(caller, session_id)


async def get_owned_session(session_id: UUID, caller: CallerDep, request: Request) -> SessionRecord:
    """Load a session the caller owns (may change)."""
    return await _services(request).sessions.get(caller, session_id, write=True)


ReadableSessionDep = Annotated[SessionRecord, Depends(get_readable_session)]
OwnedSessionDep = Annotated[SessionRecord, Depends(get_owned_session)]


async def get_run_manager(services: ServicesDep) -> RunManager:
    """Return the RunManager."""
    return services.runs


async def get_hitl_manager(services: ServicesDep) -> HITLManager:
    """Return the HITLManager."""
    return services.hitl


async def get_event_log(services: ServicesDep) -> EventLog:
    """Return the durable event log."""
    return services.events


RunManagerDep = Annotated[RunManager, Depends(get_run_manager)]
HITLManagerDep = Annotated[HITLManager, Depends(get_hitl_manager)]
EventLogDep = Annotated[EventLog, Depends(get_event_log)]


async def get_readable_run(run_id: UUID, caller: CallerDep, runs: RunManagerDep) -> Run:
    """Load a run the caller may read."""
    return await runs.get(caller, run_id)


async def get_owned_run(run_id: UUID, caller: CallerDep, runs: RunManagerDep) -> Run:
    """Load a run the caller owns (may cancel)."""
    return await runs.get(caller, run_id, write=True)


async def get_readable_approval(
    approval_id: UUID, caller: CallerDep, hitl: HITLManagerDep
) -> Approval:
    """Load an approval the caller may read."""
    return await hitl.get(caller, approval_id)


async def get_owned_approval(
    approval_id: UUID, caller: CallerDep, hitl: HITLManagerDep
) -> Approval:
    """Load an approval the caller may decide."""
    return await hitl.get(caller, approval_id, write=True)


ReadableRunDep = Annotated[Run, Depends(get_readable_run)]
OwnedRunDep = Annotated[Run, Depends(get_owned_run)]
ReadableApprovalDep = Annotated[Approval, Depends(get_readable_approval)]
OwnedApprovalDep = Annotated[Approval, Depends(get_owned_approval)]
