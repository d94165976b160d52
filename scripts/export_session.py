"""Export one chat session as JSON: the session, its agent context and every message.

    python -m project run scripts/export_session.py SESSION_ID [-o FILE]

A fork's export names its parent (`parent_id`, `forked_at_seq`) and holds its
whole history, the messages it shares with its ancestors included.

Messages are read in keyset pages through SessionManager and written as
they come, so a long history never sits in memory at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import IO, Any

from tortoise.models import Model

from core.errors import NotFound
from models import ChatSession
from project.backup import json_default
from project.scripting import services
from routes.schemas import MessageRead

PAGE = 500


def as_dict(row: Model) -> dict[str, Any]:
    """Every stored field of a model instance."""
    return {name: getattr(row, name) for name in row._meta.fields_db_projection}


def dumps(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False)


async def write_export(session: ChatSession, out: IO[str]) -> int:
    manager = services().sessions
    try:
        context = await services().contexts.get(session.id)
        state: dict[str, Any] | None = {"version": context.version, "data": context.data}
    except NotFound:  # a session made outside SessionManager may have no context row
        state = None
    out.write(f'{{"session": {dumps(as_dict(session))},\n')
    out.write(f' "context": {dumps(state)},\n')
    out.write(' "messages": [')
    written, after = 0, 0
    while True:
        page = await manager.messages(
            session, limit=PAGE, after_seq=after, before_seq=None, cursor=None
        )
        for message in page.items:
            shown = MessageRead.model_validate(message).model_dump(
                mode="json"
            )  # as the API shows it
            out.write(("\n  " if written == 0 else ",\n  ") + dumps(shown))
            written += 1
        if page.next_cursor is None or not page.items:
            break
        after = page.items[-1]["seq"]
    out.write("\n ]}\n")
    return written


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="export_session.py", description=__doc__)
    parser.add_argument("session_id", type=uuid.UUID, help="the session's id")
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    options = parser.parse_args(argv)
    session = await ChatSession.get_or_none(id=options.session_id, deleted_at__isnull=True)
    if session is None:
        print(f"no session {options.session_id}", file=sys.stderr)
        return 1
    if options.output is None:
        count = await write_export(session, sys.stdout)
    else:
        with open(options.output, "w", encoding="utf-8") as out:  # noqa: ASYNC230
            count = await write_export(session, out)
    print(f"exported {count} message(s) of session {session.id}", file=sys.stderr)
    return 0
