"""Size limits that come from settings, reported like field validation errors."""

from __future__ import annotations

import json
from typing import Any

from project.errors import ErrorCode, UnprocessableEntity
from project.settings import Settings


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


def check_metadata(settings: Settings, metadata: dict[str, Any] | None, loc: list[str]) -> None:
    """Bound a metadata object by its JSON size."""
    if metadata is not None and _json_size(metadata) > settings.max_metadata_bytes:
        raise _too_big(loc, settings.max_metadata_bytes, "bytes of JSON")


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())
