"""A fake OpenAI-compatible server on loopback that records what it was sent."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Reply:
    """What the fake server answers to the next request."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    # The body of an error answer: a JSON value, or text (default: an OpenAI error object).
    error_body: Any = None
    delay_before_headers: float = 0.0
    delay_before_body: float = 0.0
    # Stall for `stall_seconds` after sending this many chunks (a provider that hangs mid-reply).
    stall_after: int | None = None
    stall_seconds: float = 0.0


def unanswered_tool_calls(messages: list[dict[str, Any]]) -> str | None:
    """Why the real API would reject this history (HTTP 400), or None if it is valid.

    Every `tool_call_id` of an assistant message must be answered by a tool
    message right after it, before any other message, and a tool message must
    answer such a call.
    """
    expected: list[str] = []
    for message in messages:
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in expected:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'."
                )
            expected.remove(message["tool_call_id"])
            continue
        if expected:
            break
        expected = [call["id"] for call in message.get("tool_calls") or []]
    if expected:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(expected)}"
        )
    return None


class FakeOpenAI:
    """A real HTTP server speaking the streaming Chat Completions wire format.

    Like the real API, it answers 400 to a history with an unanswered tool call.
    """

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.replies: list[Reply] = []
        self.rejected: list[str] = []
        self.release = asyncio.Event()

    def reply(self, chunks: list[dict[str, Any]] | None = None, **options: Any) -> None:
        """Queue the answer to the next request."""
        self.replies.append(Reply(chunks=chunks or [], **options))

    async def handle(self, request: Request) -> Response:
        sent = await request.json()
        self.requests.append(sent)
        self.headers.append(dict(request.headers))
        problem = unanswered_tool_calls(sent.get("messages", []))
        if problem is not None:
            self.rejected.append(problem)
            error = {"message": problem, "type": "invalid_request_error", "code": None}
            return JSONResponse({"error": error}, status_code=400)
        reply = self.replies.pop(0) if self.replies else Reply()
        await self._pause(reply.delay_before_headers)
        if reply.status != 200:
            if isinstance(reply.error_body, str):
                return Response(reply.error_body, status_code=reply.status, media_type="text/plain")
            body = reply.error_body or {
                "error": {"message": "boom", "type": "server_error", "code": None}
            }
            return JSONResponse(body, status_code=reply.status)
        return StreamingResponse(self._events(reply), media_type="text/event-stream")

    async def _events(self, reply: Reply) -> AsyncIterator[str]:
        await self._pause(reply.delay_before_body)
        for sent, chunk in enumerate(reply.chunks):
            if sent == reply.stall_after:
                await self._pause(reply.stall_seconds)
            yield f"data: {json.dumps(chunk)}\n\n"
        yield "data: [DONE]\n\n"

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake early when the fixture shuts the server down."""
        if seconds:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), seconds)


@asynccontextmanager
async def serving_fake_openai() -> AsyncIterator[FakeOpenAI]:
    """Serve a FakeOpenAI on a free loopback port for the duration of the block."""
    fake = FakeOpenAI()
    app = FastAPI()
    app.add_api_route("/v1/chat/completions", fake.handle, methods=["POST"])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="off", ws="none", http="h11", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        await task
        sock.close()


def text_chunk(content: str) -> dict[str, Any]:
    """A `chat.completion.chunk` carrying a piece of text."""
    return _chunk({"content": content})


def tool_call_chunk(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A chunk carrying one whole tool call."""
    call = {
        "index": 0,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return _chunk({"tool_calls": [call]})


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The last chunk of a stream asked for with `include_usage`: no choices, the usage."""
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    return {**_chunk({}), "choices": [], "usage": usage}


def _chunk(delta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
