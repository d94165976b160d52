"""Limits that come from settings, reported with the field they concern.

Sizes (content, metadata, context) answer `413 payload_too_large` with the
limit in `limit_bytes`; the title's length in characters answers like any
other field validation error (`422`).
"""

from __future__ import annotations

from typing import Any

from core.errors import ErrorCode, PayloadTooLarge, UnprocessableEntity
from core.settings import Settings
from core.storable import json_size


def _field_error(loc: list[str], limit: int, unit: str) -> dict[str, Any]:
    return {"loc": loc, "msg": f"exceeds {limit} {unit}", "type": "too_long"}


def _too_large(loc: list[str], limit: int, unit: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{loc[-1]} exceeds {limit} {unit}.",
        data={"limit_bytes": limit, "errors": [_field_error(loc, limit, unit)]},
    )


def check_content(settings: Settings, content: str, loc: list[str]) -> None:
    """Bound message content by its UTF-8 size."""
    if len(content.encode()) > settings.max_message_bytes:
        raise _too_large(loc, settings.max_message_bytes, "bytes")


def check_title(settings: Settings, title: str | None, loc: list[str]) -> None:
    """Bound a session title by its length in characters."""
    if title is not None and len(title) > settings.max_title_chars:
        raise UnprocessableEntity(
            f"{loc[-1]} exceeds {settings.max_title_chars} characters.",
            code=ErrorCode.VALIDATION_ERROR,
            data={"errors": [_field_error(loc, settings.max_title_chars, "characters")]},
        )


def check_metadata(settings: Settings, metadata: dict[str, Any] | None, loc: list[str]) -> None:
    """Bound a metadata object by its stored JSON size."""
    if metadata is not None and json_size(metadata) > settings.max_metadata_bytes:
        raise _too_large(loc, settings.max_metadata_bytes, "bytes of JSON")


def check_context(settings: Settings, data: dict[str, Any], loc: list[str]) -> None:
    """Bound the context's data by its stored JSON size."""
    if json_size(data) > settings.max_context_bytes:
        raise _too_large(loc, settings.max_context_bytes, "bytes of JSON")


def check_tool_output(settings: Settings, output: Any, loc: list[str]) -> None:
    """Bound a client tool's output like message content, by its stored JSON size."""
    if json_size(output) > settings.max_message_bytes:
        raise _too_large(loc, settings.max_message_bytes, "bytes of JSON")
