"""Every hand-written statement runs on both dialects, and its columns are its model's."""

from __future__ import annotations

import importlib
import pkgutil
import re
from uuid import UUID

import pytest
from tortoise import fields
from tortoise.exceptions import OperationalError
from tortoise.models import Model

import models
from core.database import Database, Dialect, Statement
from models.columns import ModelColumns
from services import Services

_PARAMETER = re.compile(r"\$(\d+)")


def _statements() -> list[tuple[str, Statement]]:
    """Every Statement a models module defines, by `module.NAME`."""
    found = []
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"models.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Statement):
                found.append((f"{info.name}.{name}", value))
    return sorted(found, key=lambda item: item[0])


STATEMENTS = _statements()


class UserWithAnAddedColumn(Model):
    """The `user` table as a model that has one field more than the migrations made."""

    id = fields.UUIDField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    is_admin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    nickname = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "user"
        app = "not_registered"


def test_the_models_define_hand_written_statements() -> None:
    names = [name for name, _ in STATEMENTS]
    assert len(names) >= 20
    assert "runs._TAKE_LEASE" in names and "messages._WINDOW_SQLITE" in names


@pytest.mark.parametrize(("name", "statement"), STATEMENTS, ids=[name for name, _ in STATEMENTS])
async def test_each_statement_is_valid_on_this_dialect(
    services: Services, name: str, statement: Statement
) -> None:
    database = services.database
    if statement.only not in (None, database.dialect):
        pytest.skip(f"a {statement.only} statement")
    text = database.text(statement)
    count = max((int(n) for n in _PARAMETER.findall(statement.render(Dialect.POSTGRES))), default=0)
    # EXPLAIN plans the statement against the migrated schema without running it:
    # an unknown table or column, or a syntax error, fails here on either dialect.
    explain = Statement(lambda: f"EXPLAIN {statement.render(Dialect.POSTGRES)}")
    assert "$" not in text or database.is_postgres, name
    await database.execute(explain, *([None] * count))


def _all_columns() -> list[ModelColumns[Model]]:
    return [ModelColumns(model) for model in models.__models__]


async def _check_columns(database: Database, columns: ModelColumns[Model]) -> None:
    """Select the columns from the table (no rows): fails if one does not exist."""
    probe = Statement(lambda: f'SELECT {columns.select()} FROM "{columns.table}" WHERE 1 = 0')
    await database.execute(probe)


async def _table_columns(database: Database, table: str) -> set[str]:
    if database.is_postgres:
        catalog = Statement(
            lambda: (
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = $1"
            )
        )
        rows = await database.execute(catalog, table)
    else:
        rows = await database.execute(Statement(lambda: f'PRAGMA table_info("{table}")'))
    return {str(row["name"]) for row in rows}


async def test_each_models_columns_are_exactly_its_tables(services: Services) -> None:
    for columns in _all_columns():
        await _check_columns(services.database, columns)
        table = await _table_columns(services.database, columns.table)
        assert set(columns.columns.values()) == table, columns.table


async def test_a_model_with_an_added_column_fails_the_check(services: Services) -> None:
    columns: ModelColumns[Model] = ModelColumns(UserWithAnAddedColumn)
    assert "nickname" in columns.select()
    with pytest.raises(OperationalError):
        await _check_columns(services.database, columns)
    table = await _table_columns(services.database, columns.table)
    assert set(columns.columns.values()) != table


async def test_rows_become_instances_of_the_model(services: Services) -> None:
    issued = await services.users.create_user("columns")
    created = await models.ChatSession.create(owner=issued.user, title="t", metadata={"k": [1]})
    loaded = await models.ChatSession.live(services.database, created.id)
    assert isinstance(loaded, models.ChatSession)
    assert isinstance(loaded.id, UUID) and loaded.id == created.id and loaded.title == "t"
    assert loaded.metadata == {"k": [1]} and loaded.created_at == created.created_at


async def test_a_token_row_becomes_its_holder(services: Services) -> None:
    issued = await services.users.create_user("columns")
    from services.auth import hash_token

    holder = await models.ApiToken.holder(services.database, hash_token(issued.token))
    assert holder is not None
    assert isinstance(holder.id, UUID) and holder.user_id == issued.user.id
    assert holder.username == "columns" and holder.is_admin is False
    assert holder.revoked_at is None
