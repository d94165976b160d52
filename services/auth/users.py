"""Users and bearer tokens: creation, authentication, revocation."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar
from uuid import UUID

from cachetools import TTLCache
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import Database
from core.errors import Conflict, ErrorCode, NotFound, Unauthorized, UnprocessableEntity
from models import ApiToken, ChatSession, User

M = TypeVar("M", bound=Model)

TOKEN_PREFIX = "tp_"
TOKEN_BYTES = 32  # random bytes of a token: 43 characters of base64url
# What `_issue` hands out; anything else is refused before the database is asked.
TOKEN_FORMAT = re.compile(r"tp_[A-Za-z0-9_-]{43}")
PREFIX_CHARS = 12  # "tp_" + 9 characters: enough to name a token, useless to guess it
# last_used_at is refreshed at most this often, so auth costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Well-formed tokens the database did not know (or knew as revoked) are remembered,
# so repeating one costs a dictionary lookup. A random token is never issued
# later and a revocation is final, so the expiry is only a bound on memory.
REJECTED_TOKENS_KEPT = 10_000
REJECTED_TOKENS_SECONDS = 600
# Names fit the column and can be typed in a shell unquoted: `createtoken alice@example.com`.
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._@-]{1,64}")
USERNAME_RULE = "1 to 64 characters: letters A-Z and a-z, digits, and . _ - @"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated principal of a request."""

    user_id: UUID
    username: str
    is_admin: bool

    def sees_all(self, *, write: bool) -> bool:
        """Whether every owner's rows are in reach: admins read all, but change only their own."""
        return self.is_admin and not write

    def scope(self, query: QuerySet[M], owner_field: str, *, write: bool) -> QuerySet[M]:
        """Rows the caller may read (admins read all) or change (owners only)."""
        if self.sees_all(write=write):
            return query
        return query.filter(**{owner_field: self.user_id})

    def reaches(self, owner_id: UUID, *, write: bool) -> bool:
        """Whether a row of `owner_id`'s is in reach: the rule `scope` applies to a query."""
        return self.sees_all(write=write) or owner_id == self.user_id


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly created token; `token` is shown once and never stored."""

    token: str
    prefix: str
    user: User


def hash_token(token: str) -> str:
    """Return the sha256 hex digest stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    """Create users and tokens, and resolve bearer tokens to callers."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._rejected: TTLCache[str, bool] = TTLCache(
            maxsize=REJECTED_TOKENS_KEPT, ttl=REJECTED_TOKENS_SECONDS
        )

    async def create_user(self, username: str, *, is_admin: bool = False) -> IssuedToken:
        """Create a user with a first token; the name must follow USERNAME_RULE."""
        if not USERNAME_PATTERN.fullmatch(username):
            raise UnprocessableEntity(f"Invalid user name {username!r}: use {USERNAME_RULE}.")
        async with in_transaction():
            try:
                user = await User.create(username=username, is_admin=is_admin)
            except IntegrityError as exc:
                raise Conflict(
                    f"User {username!r} already exists.", code=ErrorCode.IDEMPOTENCY_CONFLICT
                ) from exc
            return await self._issue(user, name="initial")

    async def create_token(self, username: str, name: str = "") -> IssuedToken:
        """Issue another token for an existing user."""
        user = await User.get_or_none(username=username)
        if user is None:
            raise NotFound(f"No user named {username!r}.")
        return await self._issue(user, name=name)

    async def live_tokens(self, token_or_prefix: str) -> list[ApiToken]:
        """The live tokens a whole token or a prefix names, oldest first, their user loaded."""
        named = ApiToken.filter(revoked_at__isnull=True, **_naming(token_or_prefix))
        return await named.select_related("user").order_by("created_at")

    async def revoke_token(self, token_or_prefix: str) -> int:
        """Revoke the live tokens a whole token or a prefix names; return how many."""
        named = ApiToken.filter(revoked_at__isnull=True, **_naming(token_or_prefix))
        return await named.update(revoked_at=utcnow())

    async def get_or_create_dev_user(self, username: str) -> IssuedToken | None:
        """Create `username` with a token when no user exists at all."""
        if await User.exists():
            return None
        return await self.create_user(username, is_admin=True)

    async def authenticate(self, token: str) -> Caller:
        """Resolve a bearer token, or raise Unauthorized.

        A rejected token costs at most one database lookup: its format is
        checked first, and a well-formed token found unknown or revoked is
        remembered and refused from memory afterwards.
        """
        caller, _ = await self.authenticate_naming(token, None)
        return caller

    async def authenticate_naming(
        self, token: str, session_id: UUID | None
    ) -> tuple[Caller, ChatSession | None]:
        """Resolve a bearer token, and read the live session `session_id` in the same lookup.

        The session comes whoever owns it: whether the caller may see it is
        the session manager's to decide (`SessionManager.reachable`).
        """
        if not TOKEN_FORMAT.fullmatch(token):
            raise Unauthorized("Malformed bearer token.")
        token_hash = hash_token(token)
        if token_hash in self._rejected:
            raise Unauthorized("Unknown or revoked token.")
        holder = await ApiToken.holder(self._database, token_hash, session_id)
        if holder is None or holder.revoked_at is not None:
            self._rejected[token_hash] = True
            raise Unauthorized("Unknown or revoked token.")
        now = utcnow()
        if holder.last_used_at is None or now - holder.last_used_at > LAST_USED_RESOLUTION:
            await ApiToken.touch(holder.id, now)
        caller = Caller(user_id=holder.user_id, username=holder.username, is_admin=holder.is_admin)
        return caller, holder.session

    async def _issue(self, user: User, name: str) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        prefix = token[:PREFIX_CHARS]
        await ApiToken.create(user=user, name=name, prefix=prefix, token_hash=hash_token(token))
        return IssuedToken(token=token, prefix=prefix, user=user)


def _naming(token_or_prefix: str) -> dict[str, str]:
    """The filter for a whole token (by its hash: a leaked token) or its stored prefix."""
    if TOKEN_FORMAT.fullmatch(token_or_prefix):
        return {"token_hash": hash_token(token_or_prefix)}
    if len(token_or_prefix) == PREFIX_CHARS and token_or_prefix.startswith(TOKEN_PREFIX):
        return {"prefix": token_or_prefix}
    # Not echoed: it may be a mistyped secret.
    raise UnprocessableEntity(
        f"That is neither a whole token ({TOKEN_PREFIX} and 43 more characters) nor a token "
        f"prefix (its first {PREFIX_CHARS} characters, as `listusers` shows them)."
    )
