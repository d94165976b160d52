"""Model providers: the offline scripted default and an OpenAI-compatible client."""

from agent.providers.base import Provider, ProviderError
from agent.providers.openai_compat import OpenAIProvider
from agent.providers.scripted import ScriptedProvider

__all__ = ["OpenAIProvider", "Provider", "ProviderError", "ScriptedProvider"]
