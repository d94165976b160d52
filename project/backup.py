"""Backup and restore of every application table as versioned JSONL.

The file is one JSON object per line, written and read in constant memory:

    {"format": "terrapin-backup", "version": 1, "migration_head": ..., "migrations": [...],
     "dialect": "sqlite", "created_at": ..., "tables": {"user": ["id", ...], ...}}
    {"table": "user", "row": {"id": "...", "username": "...", ...}}     one line per row
    ...
    {"end": true, "rows": {"user": 3, ...}}

Tables come parents first (foreign-key order), each in primary-key order, read
in keyset pages; a table's references to itself (a fork's parent) are set by
a second pass over the file once all its rows are in. Values are the ORM's:
datetimes as ISO 8601 with offset, UUIDs as strings, JSON columns as JSON.
Aerich's own table is not written: a restore needs a database migrated to the
same migrations, which then already holds it. Because values go through each
field's own conversion, a backup taken on SQLite restores on PostgreSQL and
back with identical content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from tortoise import Tortoise, connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import APP_LABEL
from core.database.schema import applied_migrations
from project.management.terminal import Progress

FORMAT = "terrapin-backup"
VERSION = 1
PAGE_SIZE = 1000  # rows read per keyset page
BATCH_SIZE = 500  # rows inserted per transaction


class BackupError(Exception):
    """The backup file or the target database is not usable."""


@dataclass
class RestorePlan:
    """What a backup file holds, read from its header and footer."""

    header: dict[str, Any]
    rows: dict[str, int]
    existing: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows in the file."""
        return sum(self.rows.values())


def json_default(value: Any) -> Any:
    """Encode the ORM's non-JSON values (for backups and exports)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=json_default, ensure_ascii=False, separators=(",", ":"))


def app_models() -> list[type[Model]]:
    """The application's models, parents before children; Aerich's table left out."""
    models = [m for m in Tortoise.apps[APP_LABEL].values() if m._meta.db_table != "aerich"]
    ordered: list[type[Model]] = []

    def visit(model: type[Model], path: tuple[str, ...]) -> None:
        if model in ordered or model._meta.db_table in path:
            return
        for parent in _parents(model):
            visit(parent, (*path, model._meta.db_table))
        ordered.append(model)

    for model in sorted(models, key=lambda m: m._meta.db_table):
        visit(model, ())
    return ordered


def _parents(model: type[Model]) -> list[type[Model]]:
    names = sorted(model._meta.fk_fields | model._meta.o2o_fields)
    related = (model._meta.fields_map[name] for name in names)
    return [f.related_model for f in related if isinstance(f, fields.relational.RelationalField)]


def _columns(model: type[Model]) -> dict[str, str]:
    """Field name → column name, for every stored column."""
    return dict(model._meta.fields_db_projection)


async def _pages(model: type[Model]) -> Any:
    """Yield the table's rows as dicts of ORM values, in primary-key keyset pages."""
    pk = model._meta.pk_attr
    names = list(_columns(model))
    last: Any = None
    while True:
        query = model.all() if last is None else model.filter(**{f"{pk}__gt": last})
        rows = await query.order_by(pk).limit(PAGE_SIZE).values(*names)
        if not rows:
            return
        yield rows
        last = rows[-1][pk]


async def write_backup(out: IO[str], progress: Progress) -> dict[str, int]:
    """Write every table to `out`; return the row count per table."""
    ordered = app_models()
    applied = sorted(await applied_migrations(), key=lambda name: int(name.split("_", 1)[0]))
    header = {
        "format": FORMAT,
        "version": VERSION,
        "migration_head": applied[-1] if applied else None,
        "migrations": applied,
        "dialect": connections.get("default").capabilities.dialect,
        "created_at": utcnow(),
        "tables": {m._meta.db_table: list(_columns(m).values()) for m in ordered},
    }
    out.write(_dumps(header) + "\n")
    counts: dict[str, int] = {}
    for model in ordered:
        table = model._meta.db_table
        counts[table] = 0
        async for rows in _pages(model):
            out.writelines(_dumps({"table": table, "row": row}) + "\n" for row in rows)
            counts[table] += len(rows)
            progress.update(table, counts[table])
    out.write(_dumps({"end": True, "rows": counts}) + "\n")
    progress.done()
    return counts


def read_plan(path: Path) -> RestorePlan:
    """Check the file's header and footer (without reading the rows in between)."""
    with path.open("rb") as raw:
        first = raw.readline()
        header = _parse(first, "header")
        last = _last_line(raw)
    footer = _parse(last, "footer")
    if header.get("format") != FORMAT:
        raise BackupError(f"{path} is not a Terrapin backup")
    if header.get("version") != VERSION:
        raise BackupError(f"backup format version {header.get('version')} is not supported")
    if footer.get("end") is not True:
        raise BackupError(f"{path} is truncated: the end marker is missing")
    return RestorePlan(header=header, rows=dict(footer["rows"]))


def _parse(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        raise BackupError(f"the backup's {what} line is not JSON") from None
    if not isinstance(value, dict):
        raise BackupError(f"the backup's {what} line is not an object")
    return value


def _last_line(raw: IO[bytes], chunk: int = 64 * 1024) -> bytes:
    """Return the last non-empty line of a binary file, reading from its end."""
    end = raw.seek(0, 2)
    data = b""
    position = end
    while position > 0:
        position = max(0, position - chunk)
        raw.seek(position)
        data = raw.read(end - position)
        lines = data.rstrip(b"\n").rsplit(b"\n", 1)
        if len(lines) == 2 or position == 0:
            return lines[-1]
    return data


async def inspect_target(plan: RestorePlan) -> None:
    """Fill `plan.existing` and refuse a target that is not migrated like the backup."""
    applied = sorted(await applied_migrations(), key=lambda name: int(name.split("_", 1)[0]))
    if applied != plan.header["migrations"]:
        raise BackupError(
            f"the backup was taken at migration {plan.header['migration_head']}, "
            f"but this database is at {applied[-1] if applied else 'no migration'}; "
            "restore into a database migrated with the same code"
        )
    plan.existing = {m._meta.db_table: await m.all().count() for m in app_models()}


async def wipe(models: list[type[Model]]) -> None:
    """Delete every row of `models`, children first, in one transaction."""
    async with in_transaction() as conn:
        for model in reversed(models):
            await conn.execute_script(f'DELETE FROM "{model._meta.db_table}"')


async def load_rows(path: Path, plan: RestorePlan, progress: Progress) -> dict[str, int]:
    """Insert the file's rows in batches, each batch in its own transaction."""
    by_table = {m._meta.db_table: m for m in app_models()}
    counts = dict.fromkeys(plan.rows, 0)
    batch: list[list[Any]] = []
    current: type[Model] | None = None
    for table, row in _rows(path):
        model = by_table.get(table)
        if model is None:
            raise BackupError(f"the backup holds an unknown table {table!r}")
        if model is not current or len(batch) >= BATCH_SIZE:
            if current is not None and batch:
                await _insert(current, batch)
            current, batch = model, []
        batch.append(_db_values(model, row))
        counts[table] = counts.get(table, 0) + 1
        progress.update(table, counts[table], plan.rows.get(table))
    if current is not None and batch:
        await _insert(current, batch)
    await _link_rows_to_their_table(path, by_table)
    progress.done()
    if counts != plan.rows:
        raise BackupError(f"row counts differ from the backup's end marker: {counts}")
    return counts


def _self_references(model: type[Model]) -> dict[str, fields.Field[Any]]:
    """Field name -> field, for the model's foreign keys to its own table (a fork's parent)."""
    references: dict[str, fields.Field[Any]] = {}
    for name in sorted(model._meta.fk_fields):
        relation = model._meta.fields_map[name]
        if isinstance(relation, fields.relational.ForeignKeyFieldInstance):
            if relation.related_model is model:
                source = relation.source_field or f"{name}_id"
                references[source] = model._meta.fields_map[source]
    return references


async def _link_rows_to_their_table(path: Path, by_table: dict[str, type[Model]]) -> None:
    """Set the foreign keys a table has to itself, in a second pass over the file.

    Rows are inserted in primary-key order, so a row can come before the row
    it names; those columns are inserted empty (see `_db_values`) and set
    here, once every row of the table exists.
    """
    for table, model in by_table.items():
        references = _self_references(model)
        pk = model._meta.pk
        for name, reference in references.items():
            batch: list[list[Any]] = []
            for row_table, row in _rows(path):
                if row_table == table and row.get(name) is not None:
                    key = pk.to_db_value(row[model._meta.pk_attr], model)
                    batch.append([reference.to_db_value(row[name], model), key])
                if len(batch) >= BATCH_SIZE:
                    await _link(model, name, batch)
                    batch = []
            if batch:
                await _link(model, name, batch)


async def _link(model: type[Model], name: str, batch: list[list[Any]]) -> None:
    """Set field `name` of each (value, primary key) pair's row, in one transaction."""
    columns = _columns(model)
    async with in_transaction() as conn:
        postgres = conn.capabilities.dialect == "postgres"
        value, key = ("$1", "$2") if postgres else ("?", "?")
        await conn.execute_many(
            f'UPDATE "{model._meta.db_table}" SET "{columns[name]}" = {value} '
            f'WHERE "{columns[model._meta.pk_attr]}" = {key}',
            batch,
        )


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8") as lines:
        next(lines)  # the header, checked by read_plan
        for number, line in enumerate(lines, start=2):
            item = json.loads(line)
            if "end" in item:
                return
            if not isinstance(item.get("row"), dict):
                raise BackupError(f"line {number} of the backup is not a row")
            yield item["table"], item["row"]


def _db_values(model: type[Model], row: dict[str, Any]) -> list[Any]:
    """Convert one row's JSON values to what the database driver takes.

    Each field converts its own value, as on a normal insert, but against the
    model class: `auto_now` and defaults must not replace the stored values.
    Foreign keys to the row's own table are left empty until every row of
    the table is in (`_link_rows_to_their_table`).
    """
    values = []
    linked_later = _self_references(model)
    for name in _columns(model):
        value = None if name in linked_later else row.get(name)
        column = model._meta.fields_map[name]
        if value is not None and isinstance(column, fields.DatetimeField):
            value = datetime.fromisoformat(value)
        values.append(None if value is None else column.to_db_value(value, model))
    return values


async def _insert(model: type[Model], batch: list[list[Any]]) -> None:
    async with in_transaction() as conn:
        await conn.execute_many(_insert_sql(model, conn), batch)


def _insert_sql(model: type[Model], conn: BaseDBAsyncClient) -> str:
    columns = list(_columns(model).values())
    postgres = conn.capabilities.dialect == "postgres"
    marks = [f"${i}" if postgres else "?" for i in range(1, len(columns) + 1)]
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({", ".join(marks)})'


async def fix_sequences() -> list[str]:
    """Move PostgreSQL sequences of generated integer keys past the restored ids."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return []  # SQLite's AUTOINCREMENT follows explicit ids by itself
    fixed = []
    for model in app_models():
        pk = model._meta.pk
        if not pk.generated:
            continue
        table, column = model._meta.db_table, _columns(model)[model._meta.pk_attr]
        await conn.execute_query(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
            f'COALESCE(MAX("{column}"), 1), MAX("{column}") IS NOT NULL) FROM "{table}"'
        )
        fixed.append(table)
    return fixed
