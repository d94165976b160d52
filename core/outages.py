"""One warning per interval for a failure that repeats, such as a database outage.

During an outage every request, stream poll and reconnect attempt fails the
same way; logging each with its traceback buries everything else. A
`RepeatedWarning` logs the first occurrence at once, in one line, then at most
one line per interval with the number of occurrences it held back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

# How often a repeating failure is logged again.
INTERVAL_SECONDS = 10.0


class RepeatedWarning:
    """Log one kind of recurring failure at most once per interval, with a count."""

    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._message = message
        self._interval = interval
        self._clock = clock
        self._next_at: float | None = None
        self._held_back = 0

    def __call__(self, exc: BaseException | None = None) -> None:
        """Record one occurrence (caused by `exc`); log it unless one was logged recently."""
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            self._held_back += 1
            return
        line = self._message
        if exc is not None:
            line += f" ({describe(exc)})"
        if self._held_back:
            line += f"; {self._held_back} more like it in the last {self._interval:g}s"
        self._logger.warning(line)
        self._held_back = 0
        self._next_at = now + self._interval


def describe(exc: BaseException) -> str:
    """An exception in one line: its type and its message's first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
