"""A failure that repeats is logged once per interval, in one line, with a count."""

from __future__ import annotations

import logging

import pytest

from core.outages import RepeatedWarning


def test_repeats_within_the_interval_are_counted_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    logger = logging.getLogger("test.outages")
    warn = RepeatedWarning(logger, "database unavailable", interval=10, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="test.outages")

    for _ in range(50):  # 50 failing requests in one second
        warn(ConnectionError("connection refused\nsecond line"))
    now[0] += 10
    warn(TimeoutError())
    now[0] += 3
    warn()

    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "database unavailable (ConnectionError: connection refused)",
        "database unavailable (TimeoutError); 49 more like it in the last 10s",
    ]
    assert all(record.exc_info is None for record in caplog.records)
