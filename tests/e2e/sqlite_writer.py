"""A second process writing to the server's database through the services.

Run as `python -m tests.e2e.sqlite_writer N` with DATABASE_URL set: creates a
user, then N sessions, each with a group-committed append and an explicit
read-then-write transaction (the pattern that gets "database is locked" on
SQLite without BEGIN IMMEDIATE). Prints one JSON line with what it wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from tortoise.context import TortoiseContext
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core.database import Database, tortoise_config
from core.settings import load_settings
from models import ChatSession, MessageRole
from services import MessageDraft, Services
from services.auth import Caller


async def write(count: int) -> dict[str, object]:
    """Do the writes; return the ids of what was written."""
    settings = load_settings()
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(settings))
        database = Database.for_settings(settings)
        await database.open()
        services = Services.build(settings, database)
        await services.start()
        try:
            issued = await services.users.create_user(f"script-{uuid.uuid4().hex[:8]}")
            caller = Caller(issued.user.id, issued.user.username, is_admin=False)
            session_ids: list[str] = []
            for i in range(count):
                session = await services.sessions.create(
                    caller, title=f"script {i}", agent="default", metadata={}
                )
                draft = MessageDraft(role=MessageRole.USER, content=f"from script {i}")
                await services.sessions.append(session, draft)
                async with in_transaction():  # read, then write in one transaction
                    row = await ChatSession.get(id=session.id)
                    await ChatSession.filter(id=row.id).update(
                        title=F("title"), metadata={"touched": i}
                    )
                session_ids.append(str(session.id))
        finally:
            await services.stop()
            await database.close()
    return {"user": issued.user.username, "sessions": session_ids}


def main() -> int:
    """Entry point."""
    result = asyncio.run(write(int(sys.argv[1])))
    print(json.dumps(result))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
