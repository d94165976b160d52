"""`TERRAPIN_MAX_TITLE_CHARS` bounds the titles a session may have."""

from __future__ import annotations

import httpx
import pytest

from services import Services
from tests.factories import make_user
from tests.problems import assert_problem

API = "/api/v1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"max_title_chars": 10}


async def test_titles_longer_than_the_setting_are_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    too_long = await client.post(f"{API}/sessions", json={"title": "x" * 11}, headers=auth)
    assert_problem(too_long, 422, "validation_error")
    assert too_long.json()["errors"][0]["loc"] == ["body", "title"]
    created = await client.post(f"{API}/sessions", json={"title": "x" * 10}, headers=auth)
    assert created.status_code == 201
    renamed = await client.patch(
        f"{API}/sessions/{created.json()['id']}", json={"title": "y" * 11}, headers=auth
    )
    assert_problem(renamed, 422, "validation_error")


async def test_a_session_named_after_its_first_message_fits_the_setting(
    client: httpx.AsyncClient, services: Services
) -> None:
    auth = await make_user(services)
    turn = await client.post(
        f"{API}/agent/message", json={"message": "a first line that is long"}, headers=auth
    )
    assert turn.status_code == 200, turn.text
    session = await client.get(f"{API}/sessions/{turn.json()['run']['session_id']}", headers=auth)
    assert session.json()["title"] == "a first li"
