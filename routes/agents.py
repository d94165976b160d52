"""Routes for the agents each user configures: create, version, read and retire."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from routes.agents_schemas import AgentCreate, AgentPage, AgentRead, AgentUpdate
from routes.bodies import JsonBodyRoute
from routes.deps import AgentManagerDep, CallerDep, SettingsDep
from routes.limits import check_content
from routes.problems import BODY_ERRORS, ERROR_RESPONSES, problem_responses

router = APIRouter(
    prefix="/agents", tags=["agents"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)

NameParam = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512)]


@router.post(
    "",
    response_model=AgentRead,
    status_code=status.HTTP_201_CREATED,
    responses={**problem_responses(409), **BODY_ERRORS},
)
async def create_agent(
    body: AgentCreate, caller: CallerDep, agents: AgentManagerDep, settings: SettingsDep
) -> AgentRead:
    """Create an agent; its configuration becomes version 1."""
    check_content(settings, body.instructions, ["body", "instructions"])
    return AgentRead.of(await agents.create(caller, body.name, body.config()))


@router.get("", response_model=AgentPage, responses=problem_responses(400))
async def list_agents(
    caller: CallerDep, agents: AgentManagerDep, limit: Limit = 50, cursor: Cursor = None
) -> AgentPage:
    """List the caller's agents and the built-in one, by name."""
    page = await agents.list(caller, limit=limit, cursor=cursor)
    return AgentPage(items=[AgentRead.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/{name}", response_model=AgentRead, responses=problem_responses(404))
async def read_agent(name: NameParam, caller: CallerDep, agents: AgentManagerDep) -> AgentRead:
    """Read an agent's newest version."""
    return AgentRead.of(await agents.get(caller, name))


@router.put(
    "/{name}", response_model=AgentRead, responses={**problem_responses(404, 409), **BODY_ERRORS}
)
async def update_agent(
    name: NameParam,
    body: AgentUpdate,
    caller: CallerDep,
    agents: AgentManagerDep,
    settings: SettingsDep,
) -> AgentRead:
    """Write the agent's next version (the whole configuration)."""
    check_content(settings, body.instructions, ["body", "instructions"])
    return AgentRead.of(await agents.new_version(caller, name, body.config()))


@router.get("/{name}/versions", response_model=AgentPage, responses=problem_responses(400, 404))
async def list_agent_versions(
    name: NameParam,
    caller: CallerDep,
    agents: AgentManagerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AgentPage:
    """List an agent's versions, newest first."""
    page = await agents.versions(caller, name, limit=limit, cursor=cursor)
    return AgentPage(items=[AgentRead.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409)
)
async def retire_agent(name: NameParam, caller: CallerDep, agents: AgentManagerDep) -> Response:
    """Retire an agent: new sessions are refused, existing ones keep working."""
    await agents.retire(caller, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
