"""Users and their API tokens."""

from __future__ import annotations

import uuid

from tortoise import fields
from tortoise.models import Model


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
