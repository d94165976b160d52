"""Size limits that come from settings, reported like field validation errors."""

from __future__ import annotations

import json
from typing import Any

from core.errors import ErrorCode, UnprocessableEntity
from core.settings import Settings


def _too_big(loc: list[str], limit: int, unit: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        f"{loc[-1]} exceeds {limit} {unit}.",
        code=ErrorCode.VALIDATION_ERROR,
        data={"errors": [{"loc": loc, "msg": f"exceeds {limit} {unit}", "type": "too_long"}]},
    )


def check_content(settings: Settings, content: str, loc: list[str]) -> None:
    """Bound message content by its UTF-8 size."""
    if len(content.encode()) > settings.max_message_bytes:
        raise _too_big(loc, settings.max_message_bytes, "bytes")


def check_title(settings: Settings, title: str | None, loc: list[str]) -> None:
    """Bound a session title by its length in characters."""
    if title is not None and len(title) > settings.max_title_chars:
        raise _too_big(loc, settings.max_title_chars, "characters")


def check_metadata(settings: Settings, metadata: dict[str, Any] | None, loc: list[str]) -> None:
    """Bound a metadata object by its JSON size."""
    if metadata is not None and _json_size(metadata) > settings.max_metadata_bytes:
        raise _too_big(loc, settings.max_metadata_bytes, "bytes of JSON")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def check_tool_output(settings: Settings, output: Any, loc: list[str]) -> None:
    """Bound a client tool's output like message content: by its JSON size."""
    if _json_size(output) > settings.max_message_bytes:
        raise _too_big(loc, settings.max_message_bytes, "bytes of JSON")
