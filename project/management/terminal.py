"""Terminal helpers for commands and admin scripts: confirmation and progress.

Prompts and progress appear only on a terminal, so the same command runs
unattended from cron or CI (where `--yes` is implied by the missing tty).
"""

from __future__ import annotations

import argparse
import sys
import time

from project.management.base import CommandError


def add_destructive_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--dry-run` and `--yes` to a command or script that changes data."""
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change; change nothing"
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def confirm(question: str, *, assume_yes: bool) -> None:
    """Ask `question` on a terminal; raise CommandError unless answered yes.

    Off a terminal (pipes, cron, tests) nothing is asked: the caller chose to
    run the command unattended.
    """
    if assume_yes or not sys.stdin.isatty():
        return
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in {"y", "yes"}:
        raise CommandError("aborted; nothing was changed")


class Progress:
    """A one-line progress counter on stderr, drawn only when stderr is a tty."""

    def __init__(self, label: str) -> None:
        self.enabled = sys.stderr.isatty()
        self._label = label
        self._drawn_at = 0.0

    def update(self, what: str, count: int, total: int | None = None) -> None:
        """Redraw at most ten times a second."""
        now = time.monotonic()
        if not self.enabled or now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        of = f"/{total}" if total is not None else ""
        sys.stderr.write(f"\r\x1b[K{self._label}: {what} {count}{of} rows")
        sys.stderr.flush()

    def done(self) -> None:
        """Clear the progress line."""
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def rate(rows: int, seconds: float) -> str:
    """How long a bulk command took and its speed: `in 1.2 s (8,000 rows/s)`."""
    per_second = rows / seconds if seconds > 0 else 0.0
    return f"in {seconds:.1f} s ({per_second:,.0f} rows/s)"
