"""An async Python shell with Tortoise initialised and the managers running.

This is the owner's "admin scripts via an async shell": top-level `await`,
every model and the service managers built as the app's lifespan builds
them. `-c CODE` or piped stdin runs code unattended and prints the value of
its final expression (awaited) as the last stdout line.

Connections close in `finally`, never `atexit`: Python joins aiosqlite's
non-daemon worker thread before atexit handlers run, so a SQLite shell that
closed at exit would hang.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from typing import Any

from tortoise.context import TortoiseContext

from core.database import Database
from core.settings import Settings
from project.management.base import BaseCommand, CommandError, database_errors, open_database
from project.management.console import (
    AsyncConsole,
    banner,
    build_namespace,
    print_user_traceback,
    run_source,
)
from project.scripting import bind, running_services, unbind
from services import Services

INTERFACES = ("ipython", "python")


def _default_interface() -> str:
    return "ipython" if importlib.util.find_spec("IPython") else "python"


class Command(BaseCommand):
    help = "Open an async shell (IPython) with the models and services loaded."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-c", "--command", dest="code", help="run CODE, print its final value, and exit"
        )
        parser.add_argument(
            "-i",
            "--interface",
            choices=INTERFACES,
            default=_default_interface(),
            help="the interactive shell (default: ipython when installed)",
        )

    def run(self, options: argparse.Namespace, settings: Settings) -> int:
        if options.code is None and not sys.stdin.isatty():
            options.code = sys.stdin.read()
        if options.code is not None:
            return super().run(options, settings)  # unattended: `handle` on asyncio.run
        if options.interface == "ipython" and not importlib.util.find_spec("IPython"):
            raise CommandError("IPython is not installed; use `shell -i python`")
        return self._interactive(options.interface, settings)

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        async with running_services(settings) as running:
            namespace = build_namespace(settings, running, _current_context())
            try:
                value = await run_source(options.code, namespace)
            except Exception as exc:
                print_user_traceback(exc)
                return 1
        if value is not None:
            print(value)
        return 0

    def _interactive(self, interface: str, settings: Settings) -> int:
        """Run IPython (or the asyncio REPL) on one loop that also owns the ORM."""
        loop = _ipython_loop() if interface == "ipython" else asyncio.new_event_loop()
        context = TortoiseContext()
        context.__enter__()  # in the main context, so every cell's task inherits it
        running: Services | None = None
        database = Database.for_settings(settings)
        try:
            with database_errors():
                loop.run_until_complete(open_database(context, settings, migrated=True))
            loop.run_until_complete(database.open())
            running = Services.build(settings, database)
            loop.run_until_complete(running.start(drive_runs=False))
            token = bind(running)
            namespace = build_namespace(settings, running, context)
            try:
                if interface == "ipython":
                    _start_ipython(namespace, banner(settings, namespace))
                else:
                    _start_console(namespace, banner(settings, namespace), loop)
            finally:
                unbind(token)
        finally:
            if running is not None:
                loop.run_until_complete(running.stop())
            loop.run_until_complete(database.close())
            loop.run_until_complete(context.close_connections())
            context.__exit__(None, None, None)
            if interface != "ipython":
                loop.close()
        return 0


def _current_context() -> TortoiseContext:
    from tortoise.context import require_context

    return require_context()


def _ipython_loop() -> asyncio.AbstractEventLoop:
    """IPython's persistent autoawait loop: cells and our setup share it."""
    from IPython.core.async_helpers import get_asyncio_loop

    loop: asyncio.AbstractEventLoop = get_asyncio_loop()  # type: ignore[no-untyped-call]
    return loop


def _start_ipython(namespace: dict[str, Any], text: str) -> None:
    from IPython import start_ipython
    from traitlets.config import Config

    config = Config()
    config.TerminalInteractiveShell.autoawait = True
    config.TerminalInteractiveShell.banner2 = text
    start_ipython(argv=[], user_ns=namespace, config=config)


def _start_console(namespace: dict[str, Any], text: str, loop: asyncio.AbstractEventLoop) -> None:
    console = AsyncConsole(namespace, loop)
    try:
        console.interact(banner=text + "(Python's asyncio REPL; Ctrl-D leaves)", exitmsg="")
    except SystemExit:
        pass
