"""AgentManager: the agents each user configures, their versions, and which one a run uses.

Every agent belongs to one user and is known by its name among that user's
agents; another user's agent does not exist for the caller. A change is a new
immutable version; retiring an agent refuses new sessions while its existing
sessions keep running on their version. The built-in agent `default` is built
from the server's settings, is never stored and cannot be changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from agent import ToolCatalog
from agent.tools.registry import DEFAULT_TOOL_NAMES
from core.clock import utcnow
from core.errors import Conflict, ErrorCode, NotFound, UnprocessableEntity
from core.settings import Settings
from models import BUILTIN_AGENT, Agent, AgentVersion, ChatSession
from services.agents.config import (
    AgentChoice,
    AgentConfig,
    AgentDetails,
    ClientTool,
    parse_ref,
)
from services.auth import Caller
from services.common.pagination import Page, decode_cursor, encode_cursor, invalid_cursor

BUILTIN_CHOICE = AgentChoice(BUILTIN_AGENT, 0, None)


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A server tool as `GET /tools` lists it."""

    name: str
    description: str
    parameters: dict[str, Any]
    side_effects: bool
    # The package that provides a plugin tool; None for a built-in one.
    plugin: str | None


class AgentManager:
    """Create, version, read and retire agents; resolve a session's agent."""

    def __init__(self, settings: Settings, catalog: ToolCatalog) -> None:
        self._catalog = catalog
        self._builtin = AgentDetails(
            name=BUILTIN_AGENT,
            version=0,
            builtin=True,
            config=AgentConfig(
                provider=settings.agent_provider,
                description="The built-in agent, configured by the server's settings.",
                model=settings.agent_model,
                # The built-in tools only: plugin tools are offered by agents that name them.
                tools=DEFAULT_TOOL_NAMES,
                tools_requiring_approval=tuple(sorted(settings.tools_requiring_approval)),
                history_window=settings.agent_history_window,
            ),
            created_at=None,
            retired_at=None,
        )

    def tools(self) -> list[ToolInfo]:
        """Every server tool an agent may name: the built-ins, then the plugins' tools."""
        return [
            ToolInfo(
                name=spec.name,
                description=spec.description,
                parameters=spec.parameters,
                side_effects=spec.side_effects,
                plugin=self._catalog.plugins.get(spec.name),
            )
            for spec in self._catalog.registry.specs()
        ]

    # The API: each user's agents.

    async def create(self, caller: Caller, name: str, config: AgentConfig) -> AgentDetails:
        """Create an agent with its first version."""
        self._check(config)
        if name == BUILTIN_AGENT:
            raise _exists(name)
        try:
            async with in_transaction():
                agent = await Agent.create(owner_id=caller.user_id, name=name)
                version = await _store_version(agent.id, 1, config)
        except IntegrityError:
            raise _exists(name) from None
        return _details(agent, version)

    async def get(self, caller: Caller, name: str) -> AgentDetails:
        """The newest version of one of the caller's agents (or the built-in one)."""
        if name == BUILTIN_AGENT:
            return self._builtin
        agent = await self._owned(caller, name)
        return _details(
            agent, await AgentVersion.get(agent_id=agent.id, version=agent.latest_version)
        )

    async def list(self, caller: Caller, *, limit: int, cursor: str | None) -> Page[AgentDetails]:
        """The caller's agents and the built-in one, in name order, keyset-paged by name."""
        after = _name_after(cursor)
        agents = await Agent.page_by_name(caller.user_id, after, limit + 1)
        names: list[str | Agent] = list(agents)
        if after is None or after < BUILTIN_AGENT:
            names.append(BUILTIN_AGENT)
        names.sort(key=lambda item: item if isinstance(item, str) else item.name)
        page = names[:limit]
        items = [await self._newest(item) for item in page]
        more = len(names) > limit
        return Page(items, encode_cursor({"n": items[-1].name}) if more else None)

    async def new_version(self, caller: Caller, name: str, config: AgentConfig) -> AgentDetails:
        """Write the agent's next version; runs started from now on use it (unless pinned)."""
        if name == BUILTIN_AGENT:
            raise _builtin_is_read_only()
        agent = await self._owned(caller, name)
        self._check(config)
        async with in_transaction():
            number = await Agent.next_version(agent.id, utcnow())
            if number is None:
                raise _retired(name)
            version = await _store_version(agent.id, number, config)
        return _details(await Agent.get(id=agent.id), version)

    async def versions(
        self, caller: Caller, name: str, *, limit: int, cursor: str | None
    ) -> Page[AgentDetails]:
        """The agent's versions, newest first, keyset-paged by version number."""
        if name == BUILTIN_AGENT:
            return Page([self._builtin], None)
        agent = await self._owned(caller, name)
        rows = await AgentVersion.page_newest_first(agent.id, _version_before(cursor), limit + 1)
        items = [_details(agent, row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor({"v": items[-1].version}) if more else None)

    async def retire(self, caller: Caller, name: str) -> None:
        """Retire an agent: new sessions are refused, existing ones keep their version."""
        if name == BUILTIN_AGENT:
            raise _builtin_is_read_only()
        agent = await self._owned(caller, name)
        await Agent.retire(agent.id, utcnow())

    # Sessions and runs.

    async def check_for_new_session(self, owner_id: UUID, ref: str) -> None:
        """Refuse a new session naming an unknown agent or version, or a retired agent."""
        name, pinned = parse_ref(ref)
        if name == BUILTIN_AGENT:
            if pinned not in (None, 0):
                raise _unknown_agent(f"The agent {BUILTIN_AGENT!r} has only version 0.")
            return
        agent = await Agent.of_owner(owner_id, name)
        if agent is None:
            raise _unknown_agent(f"There is no agent called {name!r}.")
        if agent.retired_at is not None:
            raise _retired(name)
        if pinned is not None and await AgentVersion.of_agent(agent.id, pinned) is None:
            raise _unknown_agent(f"The agent {name!r} has no version {pinned}.")

    async def for_run(self, session: ChatSession) -> AgentChoice:
        """The agent version a new run of the session uses: its pinned one, else the newest.

        A session whose label names no agent (it was created before agents
        existed) runs the built-in agent.
        """
        name, pinned = parse_ref(session.agent)
        if name == BUILTIN_AGENT:
            return BUILTIN_CHOICE
        agent = await Agent.of_owner(session.owner_id, name)
        if agent is None:
            return BUILTIN_CHOICE
        number = pinned if pinned is not None else agent.latest_version
        version = await AgentVersion.get(agent_id=agent.id, version=number)
        return AgentChoice(agent.name, version.version, version.id)

    # Helpers.

    async def _owned(self, caller: Caller, name: str) -> Agent:
        agent = await Agent.of_owner(caller.user_id, name)
        if agent is None:
            raise NotFound(f"There is no agent called {name!r}.", code=ErrorCode.AGENT_NOT_FOUND)
        return agent

    async def _newest(self, item: str | Agent) -> AgentDetails:
        if isinstance(item, str):
            return self._builtin
        return _details(item, await AgentVersion.get(agent_id=item.id, version=item.latest_version))

    def _check(self, config: AgentConfig) -> None:
        """Refuse tools that do not exist, a policy outside the tools, and bad client tools."""
        registry = self._catalog.registry
        unknown = [name for name in config.tools if registry.get(name) is None]
        if unknown:
            raise UnprocessableEntity(
                f"Unknown tool(s): {', '.join(unknown)}; see GET /api/v1/tools.",
                code=ErrorCode.UNKNOWN_TOOL,
                data={"tools": unknown},
            )
        errors: list[dict[str, Any]] = []
        for name in config.tools_requiring_approval:
            if name not in config.tools:
                errors.append(_error(["tools_requiring_approval"], f"{name!r} is not in tools"))
        for index, tool in enumerate(config.client_tools):
            where = ["client_tools", index]
            if tool.name in config.tools:
                errors.append(_error([*where, "name"], f"{tool.name!r} is also a server tool"))
            try:
                Draft202012Validator.check_schema(tool.parameters)
            except SchemaError as exc:
                errors.append(_error([*where, "parameters"], f"not a JSON Schema: {exc.message}"))
        if errors:
            raise UnprocessableEntity(
                "The agent is invalid.", code=ErrorCode.VALIDATION_ERROR, data={"errors": errors}
            )


async def _store_version(agent_id: UUID, number: int, config: AgentConfig) -> AgentVersion:
    """Insert one version (inside the caller's transaction)."""
    return await AgentVersion.create(
        agent_id=agent_id,
        version=number,
        description=config.description,
        instructions=config.instructions,
        provider=config.provider,
        model=config.model,
        tools=list(config.tools),
        tools_requiring_approval=list(config.tools_requiring_approval),
        history_window=config.history_window,
        client_tools=[tool.as_dict() for tool in config.client_tools],
    )


def config_of(version: AgentVersion) -> AgentConfig:
    """A stored version's configuration."""
    return AgentConfig(
        provider=version.provider,
        description=version.description,
        instructions=version.instructions,
        model=version.model,
        tools=tuple(version.tools),
        tools_requiring_approval=tuple(version.tools_requiring_approval),
        history_window=version.history_window,
        client_tools=tuple(ClientTool(**tool) for tool in version.client_tools),
    )


def _details(agent: Agent, version: AgentVersion) -> AgentDetails:
    return AgentDetails(
        name=agent.name,
        version=version.version,
        builtin=False,
        config=config_of(version),
        created_at=version.created_at,
        retired_at=agent.retired_at,
    )


def _name_after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    name = decode_cursor(cursor, {"n"})["n"]
    if not isinstance(name, str):
        raise invalid_cursor()
    return name


def _version_before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    version = decode_cursor(cursor, {"v"})["v"]
    if type(version) is not int:
        raise invalid_cursor()
    return version


def _error(loc: list[Any], message: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": message, "type": "value_error"}


def _exists(name: str) -> Conflict:
    return Conflict(f"You already have an agent called {name!r}.", code=ErrorCode.AGENT_EXISTS)


def _retired(name: str) -> Conflict:
    return Conflict(f"The agent {name!r} is retired.", code=ErrorCode.AGENT_RETIRED)


def _builtin_is_read_only() -> Conflict:
    return Conflict(
        f"The built-in agent {BUILTIN_AGENT!r} is configured by the server's settings.",
        code=ErrorCode.BUILTIN_AGENT,
    )


def _unknown_agent(message: str) -> UnprocessableEntity:
    return UnprocessableEntity(message, code=ErrorCode.UNKNOWN_AGENT)
