"""End-to-end fixtures: direct database access from the test process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from tortoise.context import TortoiseContext

from core.database import tortoise_config
from tests.conftest import make_settings


@pytest_asyncio.fixture
async def orm(database_url: str) -> AsyncIterator[TortoiseContext]:
    """Tortoise opened on the test database, as an admin script would."""
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(make_settings(database_url)))
        yield context
