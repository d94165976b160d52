"""Rejected credentials cost at most one cheap lookup: format first, then a remembered miss."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from models import ApiToken, ChatSession, TokenHolder
from services import Services
from services.auth.users import TOKEN_FORMAT
from tests.factories import make_session, make_user
from tests.problems import assert_problem

API = "/api/v1"
# One token lookup: the token's hash, and the session it also read (None: the token alone).
Lookup = tuple[str, Any]

MALFORMED = [
    "not-a-token",
    "tp_",
    "tp_" + "A" * 42,  # one character short
    "tp_" + "A" * 44,  # one character long
    "tp_" + "A" * 42 + "!",  # outside base64url
    "tp_" + "A" * 42 + "+",  # standard base64, not base64url
    "xx_" + "A" * 43,  # wrong prefix
    "tp_" + "x" * 5000,
]


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[Lookup]:
    """Every token hash the database is asked about, with the session id read along."""
    asked: list[Lookup] = []
    real = ApiToken.holder.__func__  # type: ignore[attr-defined]

    async def counting(
        cls: type[ApiToken], database: Any, token_hash: str, session_id: Any = None
    ) -> TokenHolder | None:
        asked.append((token_hash, session_id))
        result: TokenHolder | None = await real(cls, database, token_hash, session_id)
        return result

    monkeypatch.setattr(ApiToken, "holder", classmethod(counting))
    return asked


async def test_malformed_tokens_never_reach_the_database(
    client: httpx.AsyncClient, services: Services, lookups: list[Lookup]
) -> None:
    await make_user(services)
    for token in MALFORMED:
        response = await client.get(f"{API}/sessions", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "unauthorized")
    assert lookups == []


async def test_an_unknown_token_is_looked_up_once(
    client: httpx.AsyncClient, services: Services, lookups: list[Lookup]
) -> None:
    unknown = {"Authorization": "Bearer tp_" + "A" * 43}
    for _ in range(5):
        assert_problem(await client.get(f"{API}/sessions", headers=unknown), 401, "unauthorized")
    assert len(lookups) == 1


async def test_a_revoked_token_is_looked_up_once_after_revocation(
    client: httpx.AsyncClient, services: Services, lookups: list[Lookup]
) -> None:
    issued = await services.users.create_user("frank")
    auth = {"Authorization": f"Bearer {issued.token}"}
    for _ in range(2):
        assert (await client.get(f"{API}/sessions", headers=auth)).status_code == 200
    assert len(lookups) == 2  # a valid token is looked up every time: revocation is immediate
    await services.users.revoke_token(issued.prefix)
    for _ in range(3):
        assert_problem(await client.get(f"{API}/sessions", headers=auth), 401, "unauthorized")
    assert len(lookups) == 3


async def test_issued_tokens_have_the_checked_format(services: Services) -> None:
    for n in range(20):
        issued = await services.users.create_user(f"user{n}")
        assert TOKEN_FORMAT.fullmatch(issued.token), issued.token


async def test_a_session_route_reads_its_session_with_the_token(
    client: httpx.AsyncClient,
    services: Services,
    lookups: list[Lookup],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = await make_user(services)
    sid = (await make_session(client, auth))["id"]
    lookups.clear()
    separate: list[Any] = []
    real_live = ChatSession.live.__func__  # type: ignore[attr-defined]

    async def counting_live(cls: type[ChatSession], database: Any, session_id: Any) -> Any:
        separate.append(session_id)
        return await real_live(cls, database, session_id)

    monkeypatch.setattr(ChatSession, "live", classmethod(counting_live))
    for path in (f"/sessions/{sid}", f"/sessions/{sid}/messages", f"/sessions/{sid}/context"):
        assert (await client.get(API + path, headers=auth)).status_code == 200, path
    # One lookup each, naming the session; no second read of the session.
    assert [str(session_id) for _, session_id in lookups] == [sid] * 3
    assert separate == []
    # A path whose id is not a UUID reads the token alone, and FastAPI answers 422.
    assert_problem(await client.get(f"{API}/sessions/nope", headers=auth), 422)
    assert lookups[-1][1] is None
