"""Load Settings from the environment, failing with one readable line."""

from __future__ import annotations

from pydantic import ValidationError

from project.settings import Settings, env_name


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
