"""Request bodies are JSON: a route that reads one refuses any other media type with 415."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from core.errors import UnsupportedMediaType

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class JsonBodyRoute(APIRoute):
    """An API route whose request body, when one is sent, must be `application/json`.

    Without this, a form or text body reaches validation as a string and is
    answered with a confusing 422 about the body's type.
    """

    def get_route_handler(self) -> Handler:
        """Check the body's media type before the body is read."""
        handler: Handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def json_only(request: Request) -> Response:
            if has_body(request) and not is_json(request.headers.get("content-type")):
                raise UnsupportedMediaType("Send the request body as application/json.")
            return await handler(request)

        return json_only


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
