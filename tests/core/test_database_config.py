"""The statement timeout: on the server's PostgreSQL connections, not on the commands'."""

from __future__ import annotations

from core.database import connection_config
from project.management.base import operator_config
from tests.conftest import make_settings

PG = "postgres://terrapin@127.0.0.1:5432/terrapin"


def test_the_server_bounds_statements_on_postgres_only() -> None:
    credentials = connection_config(make_settings(PG, db_statement_timeout_seconds=2.5))[
        "credentials"
    ]
    assert credentials["server_settings"] == {"statement_timeout": "2500"}
    assert credentials["command_timeout"] == 3.5  # the server's cancellation comes first
    off = connection_config(make_settings(PG, db_statement_timeout_seconds=0))["credentials"]
    assert "server_settings" not in off and "command_timeout" not in off
    sqlite = connection_config(make_settings("sqlite://:memory:"))["credentials"]
    assert "command_timeout" not in sqlite


def test_commands_run_without_a_statement_timeout() -> None:
    # A migration, a backup or a restore may rightly run one long statement.
    config = operator_config(make_settings(PG, db_statement_timeout_seconds=2.5))
    credentials = config["connections"]["default"]["credentials"]
    assert "server_settings" not in credentials and "command_timeout" not in credentials
