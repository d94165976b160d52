"""Runtime settings, read from the environment and an optional `.env` file.

Nothing here is instantiated at import time: `create_app`, the management
commands and the tests each build their own `Settings` (`load_settings`
turns a bad environment into one line naming the variable).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    agent_request_timeout_seconds: float = Field(default=60.0, gt=0)
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
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    db_pool_min: int = Field(default=1, ge=0, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=100)
    db_acquire_timeout_seconds: float = Field(default=10.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)

    group_commit_max_batch: int = Field(default=64, ge=1, le=10_000)
    group_commit_max_wait_ms: float = Field(default=2.0, ge=0, le=1000)

    # The column holds at most 200 characters; this may only lower the limit.
    max_title_chars: int = Field(default=200, ge=1, le=200)
    max_message_bytes: int = Field(default=64 * 1024, ge=1)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=2)
    max_context_bytes: int = Field(default=256 * 1024, ge=2)
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)

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

    @field_validator("database_url")
    @classmethod
    def _known_database_scheme(cls, value: str) -> str:
        """Refuse URLs Tortoise cannot open, before the first connection attempt."""
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        """Only accept the standard logging level names."""
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

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
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = env_name(field) if field in Settings.model_fields else field
        parts.append(f"{name}: {error['msg']}")
    return "invalid setting " + "; ".join(parts)
