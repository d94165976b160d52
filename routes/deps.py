"""FastAPI dependency aliases: routes declare what they need by type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.errors import Unauthorized
from core.settings import Settings
from models import Approval, ChatSession, Run
from services import (
    AgentContextManager,
    BranchManager,
    Caller,
    Services,
    SessionManager,
    UserService,
)
from services.agents import AgentManager
from services.approvals import HITLManager
from services.client_tools import ClientToolManager
from services.events import EventLog
from services.runs import RunHistory, RunManager

_bearer = HTTPBearer(auto_error=False, description="API token from `createuser`")

# Every dependency is `async def`, even those that never await: FastAPI runs a
# plain `def` dependency in its threadpool, one thread hop each per request.
# Each one reaches the managers through the request state rather than through
# a shared "services" dependency: every node of the dependency graph costs
# FastAPI work on every request (routing, parameter and cache-key handling).


def _services(request: Request) -> Services:
    services: Services = request.state.services
    return services


def request_settings(request: Request) -> Settings:
    """The settings of the app serving `request`."""
    return _services(request).settings


async def get_settings(request: Request) -> Settings:
    """Return the process settings (the dependency form of `request_settings`)."""
    return request_settings(request)


async def get_user_service(request: Request) -> UserService:
    """Return the user/token service."""
    return _services(request).users


async def get_session_manager(request: Request) -> SessionManager:
    """Return the SessionManager."""
    return _services(request).sessions


async def get_context_manager(request: Request) -> AgentContextManager:
    """Return the AgentContextManager."""
    return _services(request).contexts


async def get_branch_manager(request: Request) -> BranchManager:
    """Return the BranchManager."""
    return _services(request).branches


SettingsDep = Annotated[Settings, Depends(get_settings)]
UserServiceDep = Annotated[UserService, Depends(get_user_service)]
SessionManagerDep = Annotated[SessionManager, Depends(get_session_manager)]
ContextManagerDep = Annotated[AgentContextManager, Depends(get_context_manager)]
BranchManagerDep = Annotated[BranchManager, Depends(get_branch_manager)]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The caller, and the session the request's path names as read with the token."""

    caller: Caller
    session_id: UUID | None  # from the path, when it holds one
    session: ChatSession | None  # live, of any owner: not yet checked against the caller


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Authenticated:
    """Authenticate the bearer token and count the request against the caller's rate limit.

    When the path names a session, its row is read by the token's own lookup:
    a session route costs one round trip to the database before its work, not two.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("A bearer token is required.")
    services = _services(request)
    session_id = _path_session_id(request)
    caller, session = await services.users.authenticate_naming(credentials.credentials, session_id)
    await services.rate_limiter.admit(caller.user_id)
    return Authenticated(caller, session_id, session)


def _path_session_id(request: Request) -> UUID | None:
    """The session id in the request's path, if there is one and it is a UUID."""
    raw = request.path_params.get("session_id")
    if raw is None:
        return None
    try:
        return UUID(raw)
    except ValueError:
        return None  # FastAPI answers the path's 422; nothing to read


AuthenticatedDep = Annotated[Authenticated, Depends(authenticate)]


async def get_caller(authenticated: AuthenticatedDep) -> Caller:
    """The authenticated caller."""
    return authenticated.caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_readable_session(
    session_id: UUID, authenticated: AuthenticatedDep, request: Request
) -> ChatSession:
    """Load a session the caller may read."""
    return await _named_session(request, authenticated, session_id, write=False)


async def get_owned_session(
    session_id: UUID, authenticated: AuthenticatedDep, request: Request
) -> ChatSession:
    """Load a session the caller owns (may change)."""
    return await _named_session(request, authenticated, session_id, write=True)


async def _named_session(
    request: Request, authenticated: Authenticated, session_id: UUID, *, write: bool
) -> ChatSession:
    sessions = _services(request).sessions
    if authenticated.session_id == session_id:  # read along with the token
        return sessions.reachable(authenticated.caller, authenticated.session, write=write)
    return await sessions.get(authenticated.caller, session_id, write=write)


ReadableSessionDep = Annotated[ChatSession, Depends(get_readable_session)]
OwnedSessionDep = Annotated[ChatSession, Depends(get_owned_session)]


async def get_run_manager(request: Request) -> RunManager:
    """Return the RunManager."""
    return _services(request).runs


async def get_hitl_manager(request: Request) -> HITLManager:
    """Return the HITLManager."""
    return _services(request).hitl


async def get_event_log(request: Request) -> EventLog:
    """Return the durable event log."""
    return _services(request).events


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


async def get_agent_manager(request: Request) -> AgentManager:
    """Return the AgentManager."""
    return _services(request).agents


async def get_client_tool_manager(request: Request) -> ClientToolManager:
    """Return the ClientToolManager."""
    return _services(request).clients


async def get_run_history(request: Request) -> RunHistory:
    """Return the RunHistory."""
    return _services(request).history


AgentManagerDep = Annotated[AgentManager, Depends(get_agent_manager)]
ClientToolManagerDep = Annotated[ClientToolManager, Depends(get_client_tool_manager)]
RunHistoryDep = Annotated[RunHistory, Depends(get_run_history)]
