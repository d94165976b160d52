"""AgentRuntimes: the agent runner each run drives, built once per agent version.

A version is immutable, so its runtime (provider, tools with its approval
policy, client tools, instructions, history window) is built on first use
and kept. The built-in `default` agent is built from the settings at start.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from agent import (
    AgentRunner,
    Provider,
    ScriptedProvider,
    ToolCatalog,
    ToolSpec,
    build_default_registry,
)
from core.settings import AgentProvider, Settings
from models import BUILTIN_AGENT, AgentVersion, Run
from services.agents.config import AgentConfig
from services.agents.manager import config_of

if TYPE_CHECKING:
    from agent.providers.openai_compat import OpenAIProvider

log = logging.getLogger("terrapin.agents")

# Runtimes kept for the most recently used versions; older ones are rebuilt on use.
CACHED_VERSIONS = 256


@dataclass(frozen=True, slots=True)
class AgentRuntime:
    """What one agent version runs with."""

    name: str
    version: int
    runner: AgentRunner
    history_window: int


class AgentRuntimes:
    """The runtime of each run's agent version, built on first use."""

    def __init__(self, settings: Settings, catalog: ToolCatalog) -> None:
        self._settings = settings
        self._catalog = catalog
        self._scripted = ScriptedProvider(settings.token_delay_ms)
        # One HTTP client for every model of the OpenAI-compatible server, made when needed.
        self._openai: OpenAIProvider | None = None
        self._versions: OrderedDict[UUID, AgentRuntime] = OrderedDict()
        registry = build_default_registry(settings.tools_requiring_approval)
        self.default = AgentRuntime(
            name=BUILTIN_AGENT,
            version=0,
            runner=AgentRunner(self._provider(settings.agent_provider, None), registry),
            history_window=settings.agent_history_window,
        )

    async def for_run(self, run: Run) -> AgentRuntime:
        """The runtime of the agent version the run records."""
        config_id = run.agent_config_id
        if config_id is None:
            return self.default
        runtime = self._versions.get(config_id)
        if runtime is None:
            version = await AgentVersion.get(id=config_id)
            runtime = self._build(run.agent, version.version, config_of(version))
            self._versions[config_id] = runtime
            if len(self._versions) > CACHED_VERSIONS:
                self._versions.popitem(last=False)
        else:
            self._versions.move_to_end(config_id)
        return runtime

    async def aclose(self) -> None:
        """Close the providers' HTTP clients."""
        if self._openai is not None:
            await self._openai.aclose()

    def _build(self, name: str, version: int, config: AgentConfig) -> AgentRuntime:
        """Build the runner of one version."""
        registry = self._catalog.registry
        # A plugin uninstalled since the version was written: the model is not offered it.
        missing = [tool for tool in config.tools if registry.get(tool) is None]
        if missing:
            log.warning("agent %s@%d: tools not installed: %s", name, version, ", ".join(missing))
        client_tools = [
            ToolSpec(name=tool.name, description=tool.description, parameters=tool.parameters)
            for tool in config.client_tools
        ]
        tools = registry.select(
            [tool for tool in config.tools if tool not in missing],
            config.tools_requiring_approval,
            client_tools,
        )
        runner = AgentRunner(
            self._provider(config.provider, config.model), tools, instructions=config.instructions
        )
        window = config.history_window or self._settings.agent_history_window
        return AgentRuntime(name=name, version=version, runner=runner, history_window=window)

    def _provider(self, kind: AgentProvider, model: str | None) -> Provider:
        """The provider of that kind, for that model (None: the server's TERRAPIN_AGENT_MODEL)."""
        if kind is AgentProvider.SCRIPTED:
            return self._scripted
        if self._openai is None:
            from agent.providers.openai_compat import OpenAIProvider  # heavy import: only when used

            settings = self._settings
            self._openai = OpenAIProvider(
                settings.openai_base_url,
                settings.openai_api_key,
                settings.agent_model,
                settings.agent_request_timeout_seconds,
                max_retries=settings.agent_request_retries,
            )
        return self._openai.for_model(model or self._settings.agent_model)
