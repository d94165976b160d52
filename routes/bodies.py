"""Request bodies: a route that reads one takes JSON only (415) and no more than the limit (413).

Only routes that declare a body pay for these checks: a GET is not wrapped.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

from core.errors import UnsupportedMediaType
from routes.deps import request_settings
from routes.problems import body_too_large

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class JsonBodyRoute(APIRoute):
    """An API route whose request body, when one is sent, is JSON and within the size limit.

    Without the media-type check, a form or text body reaches validation as a
    string and is answered with a confusing 422 about the body's type. A body
    whose declared length is over the limit never gets here (the request
    middleware refuses it); one that grows past it while it is read, sent
    without a length, is cut off here.
    """

    def get_route_handler(self) -> Handler:
        """Check the body's media type before the body is read, and its size as it is read."""
        handler: Handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def json_within_limit(request: Request) -> Response:
            if has_body(request) and not is_json(request.headers.get("content-type")):
                raise UnsupportedMediaType("Send the request body as application/json.")
            limit = request_settings(request).max_request_bytes
            return await handler(Request(request.scope, limited(request.receive, limit)))

        return json_within_limit


def limited(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing with 413 once the body read so far exceeds `limit` bytes.

    FastAPI lets an HTTPException raised while it reads the body through, so
    the problem handlers answer it like any other 413.
    """
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, detail=body_too_large(limit))
        return message

    return receive_within_limit


def has_body(request: Request) -> bool:
    """Whether the request declares a body (a non-zero length, or a chunked one)."""
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or (
        "transfer-encoding" in request.headers
    )


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (`application/json` or `application/*+json`)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
