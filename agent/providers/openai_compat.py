"""A provider for any server speaking the OpenAI Chat Completions API with streaming and tools."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator, Sequence

import openai
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionChunk

from agent.events import TextDelta, ToolCallRequested, Usage
from agent.history import ChatTurn
from agent.providers.base import ProviderError
from agent.providers.openai_wire import ToolCallAccumulator, to_messages, to_tools
from agent.tools.base import ToolSpec

log = logging.getLogger("terrapin.agent.provider")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, llama.cpp) need no key, but the client insists on one.
NO_API_KEY = "not-needed"
# How much of a provider's error body the run's error keeps (and the log shows).
ERROR_BODY_CHARS = 500


class OpenAIProvider:
    """Streams Chat Completions within a time budget of `timeout_seconds`.

    The budget is the whole wait for the answer to start, the client's
    `max_retries` retries (of lost connections, 429 and 5xx answers) included;
    after that, each further piece of the answer must come within the budget
    of the previous one.
    """

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout_seconds: float,
        *,
        max_retries: int = 1,
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
            async for chunk in self._chunks(turns, tools):
                for choice in chunk.choices[:1]:
                    if choice.delta.content:
                        yield TextDelta(choice.delta.content)
                    for fragment in choice.delta.tool_calls or []:
                        calls.add(fragment)
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        except (openai.APITimeoutError, TimeoutError) as exc:
            message = f"The model provider did not answer within {self.timeout_seconds:g}s"
            raise ProviderError("provider_timeout", message) from exc
        except openai.OpenAIError as exc:
            raise _provider_error(exc) from exc
        for call in calls.finish():
            yield call
        if usage is not None:
            yield usage

    async def _chunks(
        self, turns: Sequence[ChatTurn], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The answer's chunks, each within the budget: the first one counted from the start.

        The deadline is ours, not only the client's: its timeout applies to each
        attempt, so a server that hangs would be waited for once per retry.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        async with asyncio.timeout_at(deadline):
            stream = await self._client.chat.completions.create(
                model=self.model,
                messages=to_messages(turns),
                tools=to_tools(tools) if tools else omit,
                stream=True,
                # The server's token counts arrive in a last chunk without choices.
                stream_options={"include_usage": True},
            )
        try:
            chunks = aiter(stream)
            while True:
                async with asyncio.timeout_at(deadline):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    return
                yield chunk
                deadline = loop.time() + self.timeout_seconds  # the caller's time is not ours
        finally:
            await stream.close()

    async def aclose(self) -> None:
        """Close the underlying HTTP client (shared with the providers `for_model` made)."""
        await self._client.close()


def _provider_error(exc: openai.OpenAIError) -> ProviderError:
    """Translate a client error into a ProviderError; an HTTP error keeps the body it came with."""
    if isinstance(exc, openai.APIStatusError):
        message = f"The model provider answered HTTP {exc.status_code}"
        body = _error_body(exc)
        log.warning("%s: %s", message, body or "(no body)")
        return ProviderError("provider_error", f"{message}: {body}" if body else message)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("provider_error", "Could not connect to the model provider")
    return ProviderError("provider_error", f"The model provider failed: {exc}")


def _error_body(exc: openai.APIStatusError) -> str:
    """The error answer's body on one line, at most ERROR_BODY_CHARS ('' if it was not read)."""
    if exc.body is None:  # the client could not read it
        return ""
    text = " ".join(exc.response.text.split())
    if len(text) > ERROR_BODY_CHARS:
        text = text[: ERROR_BODY_CHARS - 1] + "…"
    return text
