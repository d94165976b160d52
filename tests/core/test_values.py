"""Rows of hand-written statements become the same values on either driver."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.database.values import datetime_value, json_value
from models import SessionStatus
from models.sessions import SESSION_COLUMNS
from services import Services


def test_an_empty_json_object_is_a_new_dict_each_time() -> None:
    first, second = json_value("{}"), json_value(b"{}")
    assert first == second == {}
    first["changed"] = True
    assert json_value("{}") == {}
    assert json_value('{"a": [1]}') == {"a": [1]}
    assert json_value({"already": "decoded"}) == {"already": "decoded"}
    assert json_value(None) is None


def test_timestamps_read_as_text_or_datetime_are_aware() -> None:
    aware = datetime(2026, 11, 27, 12, 0, 1, 250000, tzinfo=UTC)
    assert datetime_value("2026-11-27 12:00:01.250000+00:00") == aware
    assert datetime_value("2026-11-27 12:00:01.25") == aware  # naive text is UTC
    assert datetime_value(aware) is aware
    assert datetime_value(None) is None


async def test_a_session_row_is_the_same_model_from_sqlite_text_and_postgres_values(
    services: Services,
) -> None:
    session_id, owner_id = uuid.uuid4(), uuid.uuid4()
    when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    common = {
        "title": "t",
        "agent": "default",
        "status": "archived",
        "message_count": 3,
        "parent_id": None,
        "forked_at_seq": None,
        "deleted_at": None,
    }
    from_sqlite = SESSION_COLUMNS.instance(
        services.database,
        {
            **common,
            "id": str(session_id),
            "owner_id": str(owner_id),
            "metadata": '{"k": 1}',
            "created_at": "2026-11-27 12:00:00+00:00",
            "updated_at": "2026-11-27 12:00:00+00:00",
            "last_message_at": None,
        },
    )
    from_postgres = SESSION_COLUMNS.instance(
        services.database,
        {
            **common,
            "id": session_id,
            "owner_id": owner_id,
            "metadata": {"k": 1},
            "created_at": when,
            "updated_at": when,
            "last_message_at": None,
        },
    )
    fields = SESSION_COLUMNS.columns
    assert {f: getattr(from_sqlite, f) for f in fields} == {
        f: getattr(from_postgres, f) for f in fields
    }
    assert from_sqlite.status is SessionStatus.ARCHIVED
    assert from_sqlite.id == session_id and from_sqlite.created_at == when
    assert from_sqlite.owner_id == owner_id
