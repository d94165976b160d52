"""What admin scripts and the shell import: the running services and prompts.

`python -m project run SCRIPT` and `python -m project shell` initialise
Tortoise from Settings and start the service managers exactly as the app's
lifespan does; a script reaches them with `services()`:

    from project.scripting import services

    async def main(argv: list[str]) -> int:
        users = services().users
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token

from core.database import Database
from core.settings import Settings
from project.management.terminal import Progress, add_destructive_arguments, confirm
from services import Services

__all__ = [
    "Progress",
    "add_destructive_arguments",
    "bind",
    "confirm",
    "running_services",
    "services",
    "unbind",
]

_current: ContextVar[Services | None] = ContextVar("terrapin_services", default=None)


def services() -> Services:
    """Return the services of the running script or shell."""
    current = _current.get()
    if current is None:
        raise RuntimeError(
            "no services are running: start this under `python -m project run` or the shell"
        )
    return current


def bind(running: Services) -> Token[Services | None]:
    """Make `running` what `services()` returns in the current context."""
    return _current.set(running)


def unbind(token: Token[Services | None]) -> None:
    """Undo `bind`."""
    _current.reset(token)


@asynccontextmanager
async def running_services(settings: Settings) -> AsyncIterator[Services]:
    """Build and start the managers, bind them, and stop them (draining writes) on exit."""
    async with Database.opened(settings) as database:
        built = Services.build(settings, database)
        await built.start(drive_runs=False)
        token = bind(built)
        try:
            yield built
        finally:
            unbind(token)
            await built.stop()
