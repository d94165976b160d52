"""Render every error as RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import AppError, ErrorCode

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("terrapin.errors")

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    503: ErrorCode.NOT_READY,
}


class ProblemResponse(JSONResponse):
    """A JSONResponse served as application/problem+json."""

    media_type = PROBLEM_MEDIA_TYPE


def problem_body(
    status: int, code: str, title: str, detail: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build the problem document; `type` is a stable URN derived from `code`.

    Extension members never override the standard ones.
    """
    return {
        **(extra or {}),
        "type": f"urn:terrapin:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }


def problem_response(error: AppError) -> ProblemResponse:
    """Render an AppError."""
    body = problem_body(error.status_code, error.code, error.title, error.detail, error.data)
    return ProblemResponse(body, status_code=error.status_code, headers=error.headers)


async def _app_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, AppError)
    return problem_response(exc)


async def _validation_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    body = problem_body(
        422,
        ErrorCode.VALIDATION_ERROR,
        "Validation error",
        "The request is invalid.",
        {"errors": errors},
    )
    return ProblemResponse(body, status_code=422)


def body_too_large(limit: int) -> str:
    """The detail of a 413 for a request body over `limit` bytes."""
    return f"The request body exceeds {limit} bytes."


async def _http_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
    title = code.replace("_", " ").capitalize()
    detail = exc.detail if isinstance(exc.detail, str) else title
    body = problem_body(exc.status_code, code, title, detail)
    return ProblemResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into problem responses."""
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)


SCHEMA_REF = "#/components/schemas/"

# The problem document, once, as components of the OpenAPI document
# (`routes.openapi` adds them); every error response refers to `Problem`.
PROBLEM_COMPONENTS: dict[str, dict[str, Any]] = {
    "Problem": {
        "title": "Problem",
        "description": "RFC 9457 problem details; `code` is stable and machine-readable.",
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "errors": {"type": "array", "items": {"$ref": SCHEMA_REF + "ProblemFieldError"}},
        },
        "required": ["type", "title", "status", "detail", "code"],
        "additionalProperties": True,
    },
    "ProblemFieldError": {
        "title": "ProblemFieldError",
        "description": "One invalid input of a 422 `validation_error`.",
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["loc", "msg", "type"],
    },
}

_DESCRIPTIONS = {
    400: "Bad request (see `code`)",
    401: "Missing, malformed, unknown or revoked bearer token",
    404: "Unknown id, or an id owned by another user",
    409: "Conflict with the current state",
    412: "If-Match names no current version",
    413: "Payload too large",
    415: "The request body is not JSON",
    422: "Validation error (field errors listed in `errors`)",
    428: "If-Match is required",
    429: "A per-user limit is reached; retry after `Retry-After` seconds",
    500: "Unexpected server error",
    503: "Database unavailable, not migrated, or shutting down (see `Retry-After`)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json answers."""
    schema = {"$ref": SCHEMA_REF + "Problem"}
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


# What every /api/v1 operation may answer besides its own errors: a bad token,
# invalid input (every operation has parameters), a per-user limit, a bug, or
# the database.
ERROR_RESPONSES = problem_responses(401, 422, 429, 500, 503)
# What an operation that takes a JSON body may answer as well (400: a body that is
# not even text, such as invalid UTF-8, is refused before it is parsed).
BODY_ERRORS = problem_responses(400, 413, 415)
