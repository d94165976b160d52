"""Agents: the ones each user configures (versioned), the built-in one, and their runtimes."""

from services.agents.config import AgentChoice, AgentConfig, AgentDetails, ClientTool
from services.agents.manager import AgentManager, ToolInfo
from services.agents.runtime import AgentRuntime, AgentRuntimes

__all__ = [
    "AgentChoice",
    "AgentConfig",
    "AgentDetails",
    "AgentManager",
    "AgentRuntime",
    "AgentRuntimes",
    "ClientTool",
    "ToolInfo",
]
