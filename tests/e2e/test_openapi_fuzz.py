"""Schemathesis against the real server's /openapi.json: no 5xx, every response documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.server import create_token, running_server

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 8
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def _strategy(
    operation: Operation, session_id: str
) -> st.SearchStrategy[schemathesis.Case[Operation]]:
    """Generated cases; session-scoped ones also aim at a real session half the time."""
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if "{session_id}" in operation.path and operation.method.upper() != "DELETE":
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters={"session_id": session_id})
            for mode in modes
        ]
    return st.one_of(strategies)


def test_openapi_contract_holds_under_fuzzing(database_url: str, tmp_path: Path) -> None:
    token = create_token(database_url, "fuzzer")
    auth = {"Authorization": f"Bearer {token}"}
    with running_server(database_url, tmp_path / "server.log") as server:
        session = httpx.post(f"{server.base_url}/api/v1/sessions", json={}, headers=auth)
        assert session.status_code == 201
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        operations: list[Operation] = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result.err()
            operations.append(result.ok())
        assert len(operations) >= 11

        for operation in operations:

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=_strategy(operation, session.json()["id"]))
            def check(case: schemathesis.Case[Operation]) -> None:
                case.call_and_validate(base_url=server.base_url, headers=auth, checks=CHECKS)

            check()
        assert "Traceback" not in server.output(), server.output()
