"""`python -m project <command>`: Django-style management commands.

Each module in `project.management.commands` defines a `Command` subclass of
`BaseCommand`; they are discovered by name, so adding a command is adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from agent import PluginError
from core.settings import Settings, SettingsError, load_settings, settings_warnings
from project.management.base import BaseCommand, CommandError
from services.runs.agent import check_agent_settings

__all__ = ["BaseCommand", "CommandError", "discover", "main"]


def discover() -> dict[str, type[BaseCommand]]:
    """Return every command class by its module name."""
    from project.management import commands

    found: dict[str, type[BaseCommand]] = {}
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        found[info.name] = module.Command
    return dict(sorted(found.items()))


def _usage(commands: dict[str, type[BaseCommand]]) -> str:
    width = max(len(name) for name in commands)
    lines = ["usage: python -m project <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {cls.help}" for name, cls in commands.items()]
    lines += ["", "`python -m project help COMMAND` describes one command;"]
    lines += ["`python -m project --version` prints the version."]
    return "\n".join(lines)


def terrapin_version() -> str:
    """The installed package's version (a bare source checkout has none)."""
    try:
        return version("terrapin")
    except PackageNotFoundError:
        return "unknown (not installed; run `make install`)"


def startup_settings() -> Settings:
    """Settings from the environment, checked against the agent's tools; warn about typos."""
    settings = load_settings()
    check_agent_settings(settings)
    for warning in settings_warnings():
        print(f"terrapin: warning: {warning}", file=sys.stderr)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse argv, run one command and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = discover()
    if not args or args[0] in {"-h", "--help"}:
        print(_usage(commands))
        return 0
    if args[0] == "--version":
        print(f"terrapin {terrapin_version()}")
        return 0
    name, rest = args[0], args[1:]
    if name == "help":
        if not rest:
            print(_usage(commands))
            return 0
        name, rest = rest[0], ["--help"]
    if name not in commands:
        print(f"terrapin: unknown command {name!r}; run `python -m project help`.", file=sys.stderr)
        return 2
    command = commands[name]()
    parser = argparse.ArgumentParser(prog=f"python -m project {name}", description=command.help)
    command.add_arguments(parser)
    options = parser.parse_args(rest)
    try:
        return command.run(options, startup_settings())
    except (SettingsError, CommandError, PluginError) as exc:
        print(f"terrapin: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, CommandError) else 2
    except KeyboardInterrupt:
        return 130
