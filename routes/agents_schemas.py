"""Request and response schemas for configured agents and the server's tools."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from core.settings import AgentProvider
from routes.schemas import AgentName, JsonObject, Strict, Text
from services.agents import AgentConfig, AgentDetails, ClientTool, ToolInfo

# Function names as the OpenAI Chat Completions API accepts them.
ToolName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Description = Annotated[Text, Field(max_length=2000)]
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


class ClientToolSchema(Strict):
    """A tool the client runs, as an agent declares it."""

    name: ToolName
    description: Description = ""
    parameters: JsonObject = Field(default_factory=lambda: dict(EMPTY_PARAMETERS))


class AgentUpdate(Strict):
    """Body of PUT /agents/{name}: the whole configuration of the next version."""

    description: Description = ""
    instructions: Text = ""
    provider: AgentProvider
    model: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    tools: Annotated[list[ToolName], Field(max_length=128)] = Field(default_factory=list)
    tools_requiring_approval: Annotated[list[ToolName], Field(max_length=128)] = Field(
        default_factory=list
    )
    history_window: Annotated[int, Field(ge=1, le=1000)] | None = None
    client_tools: Annotated[list[ClientToolSchema], Field(max_length=64)] = Field(
        default_factory=list
    )

    @field_validator("tools", "tools_requiring_approval")
    @classmethod
    def _no_repeats(cls, names: list[str]) -> list[str]:
        """A tool is named once."""
        if len(set(names)) != len(names):
            raise ValueError("names a tool more than once")
        return names

    @field_validator("client_tools")
    @classmethod
    def _unique_client_tools(cls, tools: list[ClientToolSchema]) -> list[ClientToolSchema]:
        """Client tools have distinct names."""
        if len({tool.name for tool in tools}) != len(tools):
            raise ValueError("names a client tool more than once")
        return tools

    def config(self) -> AgentConfig:
        """The configuration this body describes."""
        return AgentConfig(
            provider=self.provider,
            description=self.description,
            instructions=self.instructions,
            model=self.model,
            tools=tuple(self.tools),
            tools_requiring_approval=tuple(self.tools_requiring_approval),
            history_window=self.history_window,
            client_tools=tuple(
                ClientTool(tool.name, tool.description, tool.parameters)
                for tool in self.client_tools
            ),
        )


class AgentCreate(AgentUpdate):
    """Body of POST /agents: a name and the configuration of version 1."""

    name: AgentName


class ClientToolRead(BaseModel):
    """A tool the agent's client runs."""

    name: str
    description: str
    parameters: dict[str, Any]


class AgentRead(BaseModel):
    """One version of an agent (the newest, unless read from its versions)."""

    name: str
    version: int
    builtin: bool
    description: str
    instructions: str
    provider: AgentProvider
    model: str | None
    tools: list[str]
    tools_requiring_approval: list[str]
    history_window: int | None
    client_tools: list[ClientToolRead]
    created_at: datetime | None
    retired_at: datetime | None

    @classmethod
    def of(cls, details: AgentDetails) -> AgentRead:
        """The API view of an agent version."""
        config = details.config
        return cls(
            name=details.name,
            version=details.version,
            builtin=details.builtin,
            description=config.description,
            instructions=config.instructions,
            provider=config.provider,
            model=config.model,
            tools=list(config.tools),
            tools_requiring_approval=list(config.tools_requiring_approval),
            history_window=config.history_window,
            client_tools=[ClientToolRead(**tool.as_dict()) for tool in config.client_tools],
            created_at=details.created_at,
            retired_at=details.retired_at,
        )


class AgentPage(BaseModel):
    """A page of agents (or of one agent's versions)."""

    items: list[AgentRead]
    next_cursor: str | None


class ToolRead(BaseModel):
    """A server tool an agent may name."""

    name: str
    description: str
    parameters: dict[str, Any]
    side_effects: bool
    plugin: str | None

    @classmethod
    def of(cls, tool: ToolInfo) -> ToolRead:
        """The API view of a tool."""
        return cls(
            name=tool.name,
            description=tool.description,
            parameters=tool.parameters,
            side_effects=tool.side_effects,
            plugin=tool.plugin,
        )


class ToolList(BaseModel):
    """Every server tool: the built-in ones, then the plugins' tools."""

    items: list[ToolRead]
