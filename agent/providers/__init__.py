"""Model providers: the offline scripted default and an OpenAI-compatible client.

`OpenAIProvider` is imported on first use: the `openai` package takes most of
a second to import, which every CLI command and test process would pay.
"""

from typing import TYPE_CHECKING, Any

from agent.providers.base import Provider, ProviderError
from agent.providers.scripted import ScriptedProvider

if TYPE_CHECKING:
    from agent.providers.openai_compat import OpenAIProvider

__all__ = ["OpenAIProvider", "Provider", "ProviderError", "ScriptedProvider"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIProvider":
        from agent.providers.openai_compat import OpenAIProvider

        return OpenAIProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
