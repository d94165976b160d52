"""Opaque keyset cursors: base64url JSON, validated strictly on the way in."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import BadRequest, ErrorCode

T = TypeVar("T")
M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One keyset page; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


async def newest_first(
    query: QuerySet[M], time_field: str, limit: int, cursor: str | None
) -> Page[M]:
    """Page `query` by (time_field, id) descending: stable under concurrent inserts."""
    if cursor is not None:
        moment, last_id = parse_time_cursor(cursor)
        earlier: dict[str, Any] = {f"{time_field}__lt": moment}
        same_time_lower_id: dict[str, Any] = {time_field: moment, "id__lt": last_id}
        query = query.filter(Q(**earlier) | Q(**same_time_lower_id))
    rows = await query.order_by(f"-{time_field}", "-id").limit(limit + 1)
    items = rows[:limit]
    if len(rows) <= limit:
        return Page(items, None)
    last = items[-1]
    return Page(items, time_cursor(getattr(last, time_field), last.pk))


def invalid_cursor() -> BadRequest:
    """Return the error for an undecodable or tampered cursor."""
    return BadRequest("The cursor is invalid.", code=ErrorCode.INVALID_CURSOR)


def encode_cursor(payload: dict[str, Any]) -> str:
    """Encode a cursor payload."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, keys: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Decode a cursor that holds exactly `keys` (and any `optional`), else raise invalid_cursor."""
    if len(cursor) > 512:
        raise invalid_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(payload, dict) or set(payload) - optional != keys:
        raise invalid_cursor()
    return payload


def time_cursor(moment: datetime, row_id: UUID) -> str:
    """Cursor after a row in (timestamp desc, id desc) order."""
    return encode_cursor({"u": moment.isoformat(), "i": str(row_id)})


def parse_time_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Inverse of `time_cursor`."""
    payload = decode_cursor(cursor, {"u", "i"})
    try:
        updated_at = datetime.fromisoformat(payload["u"])
        session_id = UUID(payload["i"])
    except (TypeError, ValueError) as exc:
        raise invalid_cursor() from exc
    if updated_at.tzinfo is None:
        raise invalid_cursor()
    try:
        # Every dialect compares in UTC; a forged offset can push the moment out of range.
        updated_at = updated_at.astimezone(UTC)
    except OverflowError as exc:
        raise invalid_cursor() from exc
    return updated_at, session_id


@dataclass(frozen=True, slots=True)
class SeqPosition:
    """Where a history page starts: after or before `seq`; `below` bounds a page after it."""

    direction: str
    seq: int
    below: int | None = None


def seq_cursor(position: SeqPosition) -> str:
    """Cursor for message history: continue from `position`."""
    payload: dict[str, Any] = {"d": position.direction, "s": position.seq}
    if position.below is not None:
        payload["b"] = position.below
    return encode_cursor(payload)


def parse_seq_cursor(cursor: str) -> SeqPosition:
    """Inverse of `seq_cursor`."""
    payload = decode_cursor(cursor, {"d", "s"}, optional=frozenset({"b"}))
    direction, seq, below = payload["d"], payload["s"], payload.get("b")
    if direction not in {"after", "before"} or not _is_seq(seq):
        raise invalid_cursor()
    if below is not None and (direction != "after" or not _is_seq(below)):
        raise invalid_cursor()
    return SeqPosition(direction, seq, below)


def _is_seq(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**31
