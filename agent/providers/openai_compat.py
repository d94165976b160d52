"""A provider for any server speaking the OpenAI Chat Completions API with streaming and tools."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence

import openai
from openai import AsyncOpenAI, omit

from agent.events import TextDelta, ToolCallRequested, Usage
from agent.history import ChatTurn
from agent.providers.base import ProviderError
from agent.providers.openai_wire import ToolCallAccumulator, to_messages, to_tools
from agent.tools.base import ToolSpec

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, llama.cpp) need no key, but the client insists on one.
NO_API_KEY = "not-needed"


class OpenAIProvider:
    """Streams Chat Completions; `timeout_seconds` bounds connecting and each read."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout_seconds: float,
        *,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.timeout_seconds = timeout_seconds
        self._client = AsyncOpenAI(
            base_url=base_url or DEFAULT_BASE_URL,
            api_key=api_key or NO_API_KEY,
            timeout=timeout_seconds,
            max_retries=max_retries,
        )

    def for_model(self, model: str) -> OpenAIProvider:
        """A provider of another model on the same server, sharing this one's HTTP client."""
        other = copy.copy(self)
        other.model = model
        return other

    async def stream(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ToolCallRequested | Usage]:
        """Yield content deltas as they arrive, then each completed tool call, then the usage."""
        calls = ToolCallAccumulator()
        usage: Usage | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=to_messages(turns),
                tools=to_tools(tools) if tools else omit,
                stream=True,
                # The server's token counts arrive in a last chunk without choices.
                stream_options={"include_usage": True},
            )
            try:
                async for chunk in stream:
                    for choice in chunk.choices[:1]:
                        if choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        for fragment in choice.delta.tool_calls or []:
                            calls.add(fragment)
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            finally:
                await stream.close()
        except openai.OpenAIError as exc:
            raise _provider_error(exc, self.timeout_seconds) from exc
        for call in calls.finish():
            yield call
        if usage is not None:
            yield usage

    async def aclose(self) -> None:
        """Close the underlying HTTP client (shared with the providers `for_model` made)."""
        await self._client.close()


def _provider_error(exc: openai.OpenAIError, timeout_seconds: float) -> ProviderError:
    """Translate a client error into a ProviderError with a stable code."""
    if isinstance(exc, openai.APITimeoutError):
        message = f"The model provider did not answer within {timeout_seconds:g}s"
        return ProviderError("provider_timeout", message)
    if isinstance(exc, openai.APIStatusError):
        message = f"The model provider answered HTTP {exc.status_code}"
        return ProviderError("provider_error", message)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("provider_error", "Could not connect to the model provider")
    return ProviderError("provider_error", f"The model provider failed: {exc}")
