"""Runs driven by the OpenAI-compatible provider against the fake server: how they fail."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from services import Services
from tests.factories import make_session, make_user
from tests.runs_support import get_json, stream_message

BUDGET_SECONDS = 1.5


@pytest.fixture
def retries() -> int:
    """TERRAPIN_AGENT_REQUEST_RETRIES for the test (parametrized to change it)."""
    return 1


@pytest.fixture
def settings_overrides(fake_openai: Any, retries: int) -> dict[str, Any]:
    return {
        "agent_provider": "openai",
        "openai_base_url": fake_openai.base_url,
        "agent_request_timeout_seconds": BUDGET_SECONDS,
        "agent_request_retries": retries,
    }


async def failed_run(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    """Send one message; return the stream's terminal `error` event data and the run."""
    headers = await make_user(services)
    session = await make_session(client, headers)
    events = await stream_message(client, headers, session_id=session["id"], message="hi")
    assert events[-1].type == "error", events
    run = await get_json(client, f"/runs/{events[-1].data['run_id']}", headers)
    assert run["status"] == "failed"
    return {"event": events[-1].data, "run": run}


@pytest.mark.parametrize("retries", [4])
async def test_a_hung_provider_fails_the_run_within_the_budget(
    client: httpx.AsyncClient, services: Services, fake_openai: Any
) -> None:
    for _ in range(5):  # the first attempt and every retry hang
        fake_openai.reply(delay_before_headers=60)
    started = time.monotonic()
    failed = await failed_run(client, services)
    # Generous, yet well under the five attempts and backoff the client alone would wait.
    assert time.monotonic() - started < 4 * BUDGET_SECONDS
    assert failed["event"]["code"] == "provider_timeout"
    assert failed["run"]["error"]["code"] == "provider_timeout"


async def test_a_provider_error_body_is_in_the_run_error(
    client: httpx.AsyncClient, services: Services, fake_openai: Any
) -> None:
    for _ in range(2):  # the first attempt and its one retry
        fake_openai.reply(status=500, error_body="CUDA out of memory")
    failed = await failed_run(client, services)
    assert failed["event"]["code"] == "provider_error"
    assert "HTTP 500: CUDA out of memory" in failed["event"]["message"]
    assert failed["run"]["error"]["message"] == failed["event"]["message"]
