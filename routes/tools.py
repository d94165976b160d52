"""The server tools agents may name: the built-in ones and the installed plugins' tools."""

from __future__ import annotations

from fastapi import APIRouter

from routes.agents_schemas import ToolList, ToolRead
from routes.deps import AgentManagerDep, CallerDep
from routes.problems import ERROR_RESPONSES

router = APIRouter(prefix="/tools", tags=["agents"], responses=ERROR_RESPONSES)


@router.get("", response_model=ToolList)
async def list_tools(caller: CallerDep, agents: AgentManagerDep) -> ToolList:
    """List every server tool with its JSON schema."""
    return ToolList(items=[ToolRead.of(tool) for tool in agents.tools()])
