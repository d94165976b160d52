"""What an agent is made of, as plain data: its configuration and how it is named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core.settings import AgentProvider

# A session names its agent as `name`, or `name@3` to pin version 3.
_REF = re.compile(r"^(?P<name>[^@]+)(?:@(?P<version>[0-9]{1,9}))?$")


@dataclass(frozen=True, slots=True)
class ClientTool:
    """A tool the client runs: what the model is told about it."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The stored (and API) form."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """One version's configuration; None means "the server's setting"."""

    provider: AgentProvider
    description: str = ""
    instructions: str = ""
    model: str | None = None
    tools: tuple[str, ...] = ()
    tools_requiring_approval: tuple[str, ...] = ()
    history_window: int | None = None
    client_tools: tuple[ClientTool, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentDetails:
    """One version of an agent as the API shows it (the built-in `default` is version 0)."""

    name: str
    version: int
    builtin: bool
    config: AgentConfig
    # When this version was written (None for the built-in agent), and when the agent retired.
    created_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class AgentChoice:
    """The agent version a run uses: name, number and stored row (None for `default`)."""

    name: str
    version: int
    config_id: UUID | None


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split `name@3` into the name and the pinned version (None when not pinned)."""
    match = _REF.match(ref)
    if match is None:
        return ref, None
    version = match.group("version")
    return match.group("name"), None if version is None else int(version)
