"""Run an admin script with Tortoise initialised and the service managers running.

A script is a file with `async def main(argv: list[str]) -> int | None`;
`python -m project run scripts/x.py a b` calls `main(["a", "b"])` and exits
with its return value (or its SystemExit code). The managers are reached with
`project.scripting.services()`. Connections close before the process exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from core.settings import Settings
from project.management.base import BaseCommand, CommandError
from project.management.console import print_user_traceback
from project.scripting import running_services


class Command(BaseCommand):
    help = "Run an admin script's `async def main(argv)` with the database and services."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("path", help="the script file, e.g. scripts/stats.py")
        parser.add_argument("args", nargs=argparse.REMAINDER, help="passed to main(argv)")

    async def handle(self, options: argparse.Namespace, settings: Settings) -> int:
        path, main = load_main(Path(options.path))
        saved_argv, sys.argv = sys.argv, [str(path), *options.args]
        try:
            async with running_services(settings):
                result = await main(list(options.args))
        except SystemExit as exc:
            result = exc.code
        except CommandError:
            raise
        except Exception as exc:
            print_user_traceback(exc, within=str(path))
            return 1
        finally:
            sys.argv = saved_argv
        return exit_code(result)


def load_main(path: Path) -> tuple[Path, Any]:
    """Import the script file; return its absolute path and its `async def main`."""
    if not path.is_file():
        raise CommandError(f"no such script: {path}")
    path = path.resolve()
    spec = importlib.util.spec_from_file_location(f"terrapin_script_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # as `python path` would
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not inspect.iscoroutinefunction(main):
        raise CommandError(f"{path} has no `async def main(argv)`")
    return path, main


def exit_code(result: object) -> int:
    """Map main's return value (or SystemExit code) to an exit status, like Python does."""
    if result is None:
        return 0
    if isinstance(result, int):
        return result
    print(result, file=sys.stderr)
    return 1
