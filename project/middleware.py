"""ASGI middleware: request ids, access logs, body limits and the last-resort 500."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.database.schema import schema_missing
from core.errors import RETRY_AFTER_SECONDS, UNAVAILABLE_ERRORS, ErrorCode
from core.outages import RepeatedWarning
from routes.problems import PROBLEM_MEDIA_TYPE, body_too_large, problem_body

if TYPE_CHECKING:
    from services.metrics import Metrics

access_log = logging.getLogger("terrapin.access")
error_log = logging.getLogger("terrapin.errors")


class RequestContextMiddleware:
    """Tag each request with an id, log one line for it, and contain failures.

    Also refuses a body whose declared length exceeds the limit, and turns an
    unexpected exception into a problem+json 500 without internals.

    A body that turns out too large while it is read (sent without a length)
    is refused by the route reading it (`routes/bodies.py`); the declared
    length is checked here, before any routing.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        metrics: Metrics | None = None,
        private_prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        # Answers under this path hold user data: no cache may keep them.
        self.private_prefix = private_prefix
        # An outage fails every request alike: one line per interval, not a traceback each.
        self._unavailable = RepeatedWarning(error_log, "database unavailable: answering 503")
        self._not_migrated = RepeatedWarning(
            error_log,
            "database schema not migrated (run `python -m project migrate`): answering 503",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500, "sent": False}
        private = scope["path"].startswith(self.private_prefix)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                headers = _response_headers(message.get("headers", []), request_id, private)
                message = {**message, "headers": headers}
                if self.metrics is not None and _is_event_stream(headers):
                    status["sse"] = True
                    self.metrics.sse_streams.inc()
            await send(message)

        try:
            if _declared_length(scope) > self.max_body_bytes:
                await _send_problem(
                    send_wrapper,
                    status,
                    413,
                    ErrorCode.PAYLOAD_TOO_LARGE,
                    "Payload too large",
                    body_too_large(self.max_body_bytes),
                )
            else:
                await self.app(scope, receive, send_wrapper)
        except UNAVAILABLE_ERRORS as exc:
            self._unavailable(exc)
            await _send_unavailable(
                send_wrapper,
                status,
                ErrorCode.DATABASE_UNAVAILABLE,
                "The database is unavailable; retry later.",
            )
        except Exception as exc:
            if not schema_missing(exc):
                error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                await _send_problem(
                    send_wrapper,
                    status,
                    500,
                    ErrorCode.INTERNAL_ERROR,
                    "Internal server error",
                    "An unexpected error occurred.",
                )
                return
            self._not_migrated(exc)
            await _send_unavailable(
                send_wrapper,
                status,
                ErrorCode.NOT_READY,
                "The database schema is not migrated: run `python -m project migrate`.",
            )
        finally:
            template = _log_access(scope, status["code"], started, request_id)
            if self.metrics is not None:
                if status.get("sse"):
                    self.metrics.sse_streams.dec()
                seconds = time.perf_counter() - started
                self.metrics.observe_request(scope["method"], template, status["code"], seconds)


def _response_headers(
    headers: list[tuple[bytes, bytes]], request_id: str, private: bool
) -> list[tuple[bytes, bytes]]:
    """The app's headers plus the request id and the headers every answer carries."""
    extra = [(b"x-request-id", request_id.encode()), (b"x-content-type-options", b"nosniff")]
    if private:
        # no-store, not the streams' no-cache: nothing of a user's may be kept anywhere.
        headers = [(name, value) for name, value in headers if name.lower() != b"cache-control"]
        extra.append((b"cache-control", b"no-store"))
    return [*headers, *extra]


# What an incoming X-Request-ID may hold to be reused (UUIDs, hex, base64, dotted ids).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")


def _request_id(scope: Scope) -> str:
    """Reuse a sane incoming X-Request-ID, else mint one.

    It is echoed and logged, so anything longer or with other characters
    (control characters, quotes, spaces) is replaced rather than passed on.
    """
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
            return bytes(value).decode("ascii")
    return secrets.token_hex(16)  # 128 random bits, without building a UUID object


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in headers
    )


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


async def _send_problem(
    send: Send,
    status: dict[str, Any],
    code: int,
    error: str,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a problem response unless the response already started."""
    if status["sent"]:
        return
    body = json.dumps(problem_body(code, error, title, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_unavailable(send: Send, status: dict[str, Any], error: str, detail: str) -> None:
    """Send a 503 problem that says when to retry."""
    retry_after = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
    await _send_problem(
        send, status, 503, error, "Service unavailable", detail, headers=[retry_after]
    )


def route_template(scope: Scope) -> str:
    """Return the matched route's full path template (router prefixes included).

    Since FastAPI 0.16x, `scope["route"]` is the route as declared on its
    router (`/sessions/{session_id}`); the prefixed template that FastAPI's own
    telemetry reports lives in its effective route context. Fall back to the
    route's own path if that private key ever moves (a test pins the result).
    """
    fastapi_scope = scope.get("fastapi")
    effective = (
        fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    )
    template = getattr(effective, "path_format", None) or getattr(scope.get("route"), "path", None)
    return str(template) if template else "<unmatched>"


def _log_access(scope: Scope, status: int, started: float, request_id: str) -> str:
    """Log one line for the request; return its route template."""
    template = route_template(scope)
    if not access_log.isEnabledFor(logging.INFO):
        return template  # spare building the record's fields on every request
    access_log.info(
        "%s %s %s %.1fms",
        scope["method"],
        template,
        status,
        (time.perf_counter() - started) * 1000,
        extra={
            "request_id": request_id,
            "method": scope["method"],
            "route": template,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return template
