"""Runtime settings, read from the environment and an optional `.env` file.

Nothing here is instantiated at import time: `create_app`, the management
commands and the tests each build their own `Settings` (`load_settings`
turns a bad environment into one line naming the variable).
"""

from __future__ import annotations

import difflib
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite://data/terrapin.db"


class AgentProvider(StrEnum):
    """Which model backend drives the agent."""

    SCRIPTED = "scripted"
    OPENAI = "openai"


class LogFormat(StrEnum):
    """How log lines are rendered."""

    PLAIN = "plain"
    JSON = "json"


class Settings(BaseSettings):
    """Every tunable of a Terrapin process, with production-safe defaults."""

    model_config = SettingsConfigDict(
        env_prefix="TERRAPIN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )

    agent_provider: AgentProvider = AgentProvider.SCRIPTED
    agent_model: str = "gpt-4o-mini"
    agent_history_window: int = Field(default=50, ge=1, le=1000)
    # The whole wait for a model call to start answering (retries included), and then
    # for each further piece of the answer.
    agent_request_timeout_seconds: float = Field(default=60.0, gt=0)
    # Retries of a failed model call (lost connection, 429, 5xx) within that same budget.
    agent_request_retries: int = Field(default=1, ge=0, le=10)
    token_delay_ms: int = Field(default=20, ge=0, le=10_000)
    # Deltas arriving within this window go out as one `delta` event (0: one event each).
    delta_coalesce_ms: int = Field(default=50, ge=0, le=100)
    # How often an SSE stream re-reads the log when no in-process wake-up came.
    stream_poll_seconds: float = Field(default=1.0, gt=0, le=30)
    tools_requiring_approval: Annotated[frozenset[str], NoDecode] = frozenset({"remember"})
    approval_ttl_seconds: int = Field(default=3600, ge=1)
    # How long a run waits for the client's result of a client-executed tool.
    client_tool_ttl_seconds: int = Field(default=600, ge=1)
    run_lease_seconds: int = Field(default=30, ge=2)
    # Runs driven at once by one process; more wait their turn, still queued.
    max_concurrent_runs: int = Field(default=32, ge=1, le=10_000)
    # Per user: runs holding their session (running, waiting for approval, about to
    # start) and runs queued behind another run of their session; more answer 429.
    max_runs_in_flight_per_user: int = Field(default=8, ge=1, le=10_000)
    max_queued_runs_per_user: int = Field(default=32, ge=0, le=10_000)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    db_pool_min: int = Field(default=1, ge=0, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=100)
    db_acquire_timeout_seconds: float = Field(default=10.0, gt=0)
    # PostgreSQL: the longest a statement may run (the server cancels it), and so how
    # long a request may wait on a connection that stopped answering; 0 disables it.
    db_statement_timeout_seconds: float = Field(default=15.0, ge=0, le=3600)
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)

    group_commit_max_batch: int = Field(default=64, ge=1, le=10_000)
    group_commit_max_wait_ms: float = Field(default=2.0, ge=0, le=1000)

    # The column holds at most 200 characters; this may only lower the limit.
    max_title_chars: int = Field(default=200, ge=1, le=200)
    max_message_bytes: int = Field(default=64 * 1024, ge=1)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=2)
    max_context_bytes: int = Field(default=256 * 1024, ge=2)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Authenticated requests per user and minute, counted across workers (0: no limit).
    rate_limit_per_minute: int = Field(default=1200, ge=0, le=1_000_000)

    # When set, GET /metrics needs `Authorization: Bearer <this token>`; unset, it is open.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)

    log_format: LogFormat = LogFormat.PLAIN
    log_level: str = "INFO"
    dev_user: str = "dev"

    @field_validator("tools_requiring_approval", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        """Accept `a,b,c` from the environment as well as real collections."""
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("agent_provider", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        """Accept `OpenAI` or `JSON` as well as the lower-case names."""
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database_scheme(cls, value: str) -> str:
        """Refuse URLs Tortoise cannot open, before the first connection attempt."""
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError("must start with sqlite:// or postgres://")
        try:
            expand_db_url(value)
        except (ConfigurationError, ValueError) as exc:  # e.g. a port that is not a number
            raise ValueError(f"not a database URL: {exc}") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """Only accept the standard logging level names."""
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        """A pool cannot keep more connections open than it may open."""
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(
                f"{env_name('db_pool_min')}: {self.db_pool_min} is greater than "
                f"{env_name('db_pool_max')} ({self.db_pool_max})"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite://")


def env_name(field: str) -> str:
    """Return the environment variable that sets `field`."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return first if isinstance(first, str) else field.upper()
    return f"TERRAPIN_{field.upper()}"


class SettingsError(Exception):
    """The environment holds a bad setting; the message names the variable."""


def load_settings() -> Settings:
    """Build Settings from the environment and `.env`, or raise SettingsError."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Summarise a settings validation error as one line naming the variable."""
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across settings: its message names them
            parts.append(message)
            continue
        field = str(error["loc"][0])
        name = env_name(field) if field in Settings.model_fields else field
        parts.append(f"{name}: {message}")
    return "invalid setting " + "; ".join(parts)


def settings_warnings() -> list[str]:
    """One warning per `TERRAPIN_*` variable of the environment or `.env` that no setting reads.

    pydantic-settings ignores such variables, so without this a misspelled
    name (`TERRAPIN_AGENT_PROVDER`) would silently leave its setting at the default.
    """
    names = set(os.environ)
    env_file = Path(str(Settings.model_config.get("env_file")))
    if env_file.is_file():
        names |= set(dotenv_values(env_file, encoding="utf-8"))
    known = [f"TERRAPIN_{field.upper()}" for field in Settings.model_fields]
    warnings = []
    for name in sorted(names):
        if not name.upper().startswith("TERRAPIN_") or name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings
