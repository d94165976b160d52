"""A run whose step fails ends with an `error` event naming why, and frees its session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from models import Run, RunStatus
from services import Services
from services.runs import RunSteps
from tests.factories import make_user


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (TimeoutError("no pooled connection in time"), "database_unavailable"),
        (RuntimeError("a bug"), "internal_error"),
    ],
)
async def test_a_failing_step_ends_the_run_with_a_stable_code(
    client: httpx.AsyncClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    raised: Exception,
    code: str,
) -> None:
    async def failing_round(*_args: Any, **_kwargs: Any) -> None:
        raise raised

    monkeypatch.setattr(RunSteps, "model_round", failing_round)
    headers = await make_user(services)
    response = await client.post(
        "/api/v1/agent/message/stream", json={"message": "hello"}, headers=headers
    )
    assert response.status_code == 200
    blocks = [block for block in response.text.split("\n\n") if block.strip()]
    assert blocks[-1].startswith("event: error")
    assert f'"code":"{code}"' in blocks[-1].replace(" ", "")
    run = await Run.get()
    assert run.status is RunStatus.FAILED and run.active_session_id is None
    assert str(run.error).startswith(code)
