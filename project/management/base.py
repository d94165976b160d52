"""The base class of management commands, in Django's shape."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ClassVar

import asyncpg
from aerich import Command as AerichCommand
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError, OperationalError

from core.database import APP_LABEL, tortoise_config
from core.database.probe import DatabaseUnreachable, probe_database, reason
from core.database.schema import MIGRATIONS_DIR, check_readiness
from core.settings import Settings

MIGRATE_ADVICE = " (is it migrated? run `python -m project migrate`)"
# A connection that fails once the probe has opened one: dropped, refused, a pool wait
# that timed out. (BrokenPipeError is a ConnectionError too, but of stdout.)
LOST_CONNECTION = (DBConnectionError, ConnectionError, TimeoutError)
# A statement the database refused, as Tortoise or, untranslated, the driver reports it.
FAILED_STATEMENT = (OperationalError, asyncpg.PostgresError, sqlite3.Error)


class CommandError(Exception):
    """An expected failure: printed as one line, exits non-zero, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def database_errors(advice: str = MIGRATE_ADVICE) -> Iterator[None]:
    """Turn an unreachable or broken database into a one-line CommandError.

    `advice` follows the message of a failed statement (say, a missing table).
    """
    try:
        yield
    except BrokenPipeError:  # stdout's reader went away (`| head`): not the database
        raise
    except DatabaseUnreachable as exc:
        raise CommandError(f"cannot reach the database {exc}") from None
    except LOST_CONNECTION as exc:
        raise CommandError(f"cannot reach the database: {reason(exc)}") from None
    except FAILED_STATEMENT as exc:
        raise CommandError(f"database error: {reason(exc)}{advice}") from None


def operator_config(settings: Settings) -> dict[str, Any]:
    """The Tortoise config of a command: no statement timeout.

    The timeout keeps a request from waiting on a stalled connection; a
    migration, a backup or a restore may rightly run one long statement.
    """
    return tortoise_config(settings.model_copy(update={"db_statement_timeout_seconds": 0}))


async def open_database(context: TortoiseContext, settings: Settings, *, migrated: bool) -> None:
    """Initialise Tortoise in `context`; with `migrated`, refuse a schema behind the head."""
    await probe_database(settings)
    await context.init(config=operator_config(settings))
    if migrated:
        await require_migrated()


async def require_migrated() -> None:
    """Raise CommandError unless the database is reachable and at the migration head."""
    state = await check_readiness()
    if state.code == "database_unavailable":
        reason = state.detail.removeprefix("Database unreachable: ").rstrip(".")
        raise CommandError(f"cannot reach the database: {reason}")
    if not state.ready:
        raise CommandError(
            f"the database is not migrated ({len(state.pending)} migration(s) pending); "
            "run `python -m project migrate` first"
        )


@asynccontextmanager
async def aerich(settings: Settings) -> AsyncIterator[AerichCommand]:
    """Aerich's command API on the configured database, once it is known to open."""
    await probe_database(settings)
    config = operator_config(settings)
    async with AerichCommand(config, app=APP_LABEL, location=str(MIGRATIONS_DIR)) as command:
        yield command


class BaseCommand:
    """One management command: `help`, `add_arguments`, async `handle`."""

    help: ClassVar[str] = ""
    # Commands that work on the database get an initialised Tortoise context,
    # closed in `finally` (an unclosed aiosqlite thread would hang the exit).
    needs_database: ClassVar[bool] = True
    # ...and, unless this is False, refuse a database behind the migration head.
    needs_migrated_database: ClassVar[bool] = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's arguments."""

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int | None:
        """Do the work; return an exit code (None means 0)."""
        raise NotImplementedError

    def run(self, options: argparse.Namespace, settings: Settings) -> int:
        """Run the command to completion on a fresh event loop."""
        return asyncio.run(self.execute(options, settings))

    async def execute(self, options: argparse.Namespace, settings: Settings) -> int:
        """Run `handle`, inside a Tortoise context when the command needs one."""
        if not self.needs_database:
            return await self.handle(options, settings) or 0
        async with TortoiseContext() as context:
            with database_errors():
                await open_database(context, settings, migrated=self.needs_migrated_database)
                return await self.handle(options, settings) or 0
