"""The error tree every API failure is expressed in.

Each error has a stable machine `code`, an HTTP status and a human `title`;
the handlers in `routes.problems` render them as RFC 9457 problem+json.

    AppError
    ├── BadRequest (400)             bad_request, invalid_cursor, invalid_last_event_id,
    │                                conflicting_parameters
    ├── Unauthorized (401)           unauthorized
    ├── NotFound (404)               session_not_found, run_not_found, approval_not_found,
    │                                agent_not_found, tool_call_not_found
    ├── Conflict (409)               idempotency_conflict, session_busy, approval_already_decided,
    │                                run_not_cancellable, session_archived, agent_exists,
    │                                agent_retired, builtin_agent, tool_call_not_waiting,
    │                                message_not_editable, nothing_to_regenerate, nothing_to_answer
    ├── PreconditionFailed (412)     version_conflict
    ├── PayloadTooLarge (413)        payload_too_large
    ├── UnsupportedMediaType (415)   unsupported_media_type
    ├── UnprocessableEntity (422)    validation_error, invalid_tool_arguments, unknown_agent,
    │                                unknown_tool
    ├── PreconditionRequired (428)   precondition_required
    ├── TooManyRequests (429)        rate_limited, too_many_runs_in_flight, too_many_queued_runs
    └── ServiceUnavailable (503)     not_ready, database_unavailable, shutting_down
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from asyncpg.exceptions import (
    InsufficientResourcesError,
    OperatorInterventionError,
    PostgresConnectionError,
)
from tortoise.exceptions import DBConnectionError

# Failures that mean "the database is unreachable or saturated", not a bug:
# answered 503, retried by followers. Tortoise translates only some driver
# errors; these asyncpg ones reach the caller as they are: a dropped connection
# (class 08, e.g. ConnectionDoesNotExistError), a server shutting down or a
# statement timeout (class 57), too many connections (class 53). A pool wait or
# a client-side command timeout is a TimeoutError.
UNAVAILABLE_ERRORS = (
    TimeoutError,
    ConnectionError,
    DBConnectionError,
    PostgresConnectionError,
    OperatorInterventionError,
    InsufficientResourcesError,
)

# Every 503 says when to try again (seconds).
RETRY_AFTER_SECONDS = 2


class ErrorCode(StrEnum):
    """Stable machine-readable error codes; clients branch on these."""

    BAD_REQUEST = "bad_request"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_LAST_EVENT_ID = "invalid_last_event_id"
    CONFLICTING_PARAMETERS = "conflicting_parameters"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    SESSION_NOT_FOUND = "session_not_found"
    RUN_NOT_FOUND = "run_not_found"
    APPROVAL_NOT_FOUND = "approval_not_found"
    AGENT_NOT_FOUND = "agent_not_found"
    TOOL_CALL_NOT_FOUND = "tool_call_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    SESSION_BUSY = "session_busy"
    SESSION_ARCHIVED = "session_archived"
    APPROVAL_ALREADY_DECIDED = "approval_already_decided"
    RUN_NOT_CANCELLABLE = "run_not_cancellable"
    AGENT_EXISTS = "agent_exists"
    AGENT_RETIRED = "agent_retired"
    BUILTIN_AGENT = "builtin_agent"
    TOOL_CALL_NOT_WAITING = "tool_call_not_waiting"
    MESSAGE_NOT_EDITABLE = "message_not_editable"
    NOTHING_TO_REGENERATE = "nothing_to_regenerate"
    NOTHING_TO_ANSWER = "nothing_to_answer"
    VERSION_CONFLICT = "version_conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    INVALID_TOOL_ARGUMENTS = "invalid_tool_arguments"
    # An agent naming a tool that does not exist is answered with `unknown_tool` (below).
    UNKNOWN_AGENT = "unknown_agent"
    PRECONDITION_REQUIRED = "precondition_required"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_RUNS_IN_FLIGHT = "too_many_runs_in_flight"
    TOO_MANY_QUEUED_RUNS = "too_many_queued_runs"
    NOT_READY = "not_ready"
    DATABASE_UNAVAILABLE = "database_unavailable"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL_ERROR = "internal_error"
    # Codes only a failed run's `error` event carries (with internal_error and
    # database_unavailable above, and the provider's own codes).
    UNKNOWN_TOOL = "unknown_tool"
    TOO_MANY_STEPS = "too_many_steps"
    # An interrupted run's `error` code (its message is the reason).
    INTERRUPTED = "interrupted"


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status_code: int = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: ErrorCode | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.data = data or {}
        self.headers = headers or {}
        super().__init__(self.detail)


class BadRequest(AppError):
    """The request is malformed in a way validation cannot express."""

    status_code = 400
    code = ErrorCode.BAD_REQUEST
    title = "Bad request"


class Unauthorized(AppError):
    """Missing, malformed, unknown or revoked bearer token."""

    status_code = 401
    code = ErrorCode.UNAUTHORIZED
    title = "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class NotFound(AppError):
    """Unknown id, or an id the caller may not see (indistinguishable on purpose)."""

    status_code = 404
    code = ErrorCode.NOT_FOUND
    title = "Not found"


class Conflict(AppError):
    """The request conflicts with the current state of a resource."""

    status_code = 409
    code = ErrorCode.SESSION_BUSY
    title = "Conflict"


class PreconditionFailed(AppError):
    """An `If-Match` precondition no longer holds."""

    status_code = 412
    code = ErrorCode.VERSION_CONFLICT
    title = "Precondition failed"


class PayloadTooLarge(AppError):
    """The body or one of its fields exceeds a configured size limit."""

    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    """The request body is not JSON."""

    status_code = 415
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    title = "Unsupported media type"


class UnprocessableEntity(AppError):
    """Well-formed input that fails validation."""

    status_code = 422
    code = ErrorCode.VALIDATION_ERROR
    title = "Validation error"


class PreconditionRequired(AppError):
    """A conditional request header (`If-Match`) is required."""

    status_code = 428
    code = ErrorCode.PRECONDITION_REQUIRED
    title = "Precondition required"


class TooManyRequests(AppError):
    """A per-user limit is reached; `Retry-After` says when to try again."""

    status_code = 429
    code = ErrorCode.RATE_LIMITED
    title = "Too many requests"

    def __init__(
        self,
        detail: str,
        *,
        retry_after: int,
        code: ErrorCode | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail, code=code, data=data, headers={"Retry-After": str(max(1, retry_after))}
        )


class ServiceUnavailable(AppError):
    """The service cannot answer right now; retrying later may succeed (`Retry-After`)."""

    status_code = 503
    code = ErrorCode.NOT_READY
    title = "Service unavailable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: ErrorCode | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail, code=code, data=data, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )


def session_not_found() -> NotFound:
    """Return the one 404 used for unknown and foreign sessions alike."""
    return NotFound("Session not found.", code=ErrorCode.SESSION_NOT_FOUND)
