"""Users and their API tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from core.database import Database, Statement
from models.columns import ModelColumns
from models.sessions import LIVE_SESSION, SESSION_COLUMNS, ChatSession


class User(Model):
    """A person or service that owns chat sessions."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    username = fields.CharField(max_length=64, unique=True)
    is_admin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "user"

    def __str__(self) -> str:
        return self.username


class ApiToken(Model):
    """A bearer token, stored only as its sha256 with a short lookup prefix."""

    id = fields.UUIDField(primary_key=True, default=uuid.uuid4)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100, default="")
    prefix = fields.CharField(max_length=16, db_index=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"

    def __str__(self) -> str:
        return f"{self.prefix}…"

    @classmethod
    async def holder(
        cls, database: Database, token_hash: str, session_id: UUID | None = None
    ) -> TokenHolder | None:
        """The token with this hash and who holds it (every request asks this; no model built).

        With `session_id`, the same statement also reads that session if it
        is live, whoever owns it: a request that names a session costs one
        round trip for both. Whether the holder may see it is not decided here.
        """
        if session_id is None:
            rows = await database.fetch_committed(_HOLDER, token_hash)
        else:
            rows = await database.fetch_committed(_HOLDER_AND_SESSION, token_hash, session_id)
        if not rows:
            return None
        row = rows[0]
        session = None
        if session_id is not None and row[_SESSION_PREFIX + "id"] is not None:
            session = SESSION_COLUMNS.instance(database, row, prefix=_SESSION_PREFIX)
        return TokenHolder(
            **_HOLDER_TOKEN_COLUMNS.values(database, row),
            **_HOLDER_USER_COLUMNS.values(database, row),
            session=session,
        )

    @classmethod
    async def touch(cls, token_id: UUID, now: datetime) -> None:
        """Record that the token was just used."""
        await cls.filter(id=token_id).update(last_used_at=now)


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """What authenticating a request needs of a token and its user."""

    id: UUID
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_id: UUID
    username: str
    is_admin: bool
    # The live session the lookup named, if any (see `ApiToken.holder`).
    session: ChatSession | None = None


_HOLDER_TOKEN_COLUMNS = ModelColumns(ApiToken).only("id", "last_used_at", "revoked_at", "user_id")
_HOLDER_USER_COLUMNS = ModelColumns(User).only("username", "is_admin")
_SESSION_PREFIX = "session_"


def _holder_select() -> str:
    return f"{_HOLDER_TOKEN_COLUMNS.select(alias='t')}, {_HOLDER_USER_COLUMNS.select(alias='u')}"


_HOLDER = Statement(
    lambda: (
        f"SELECT {_holder_select()} "
        'FROM api_token t JOIN "user" u ON u.id = t.user_id WHERE t.token_hash = $1'
    )
)
_HOLDER_AND_SESSION = Statement(
    lambda: (
        f"SELECT {_holder_select()}, {SESSION_COLUMNS.select(alias='s', prefix=_SESSION_PREFIX)} "
        'FROM api_token t JOIN "user" u ON u.id = t.user_id '
        f"LEFT JOIN chat_session s ON s.id = $2 AND s.{LIVE_SESSION} "
        "WHERE t.token_hash = $1"
    )
)
