"""Backup and restore of every application table as versioned JSONL.

The file is one JSON object per line, written and read in constant memory:

    {"format": "terrapin-backup", "version": 1, "migration_head": ..., "migrations": [...],
     "dialect": "sqlite", "created_at": ..., "tables": {"user": ["id", ...], ...}}
    {"table": "user", "row": {"id": "...", "username": "...", ...}}     one line per row
    ...
    {"end": true, "rows": {"user": 3, ...}}

A backup reads every table in one read snapshot (`core/database/snapshot.py`),
so a server writing meanwhile cannot make the file disagree with itself.
Tables come parents first (foreign-key order), each in primary-key order, read
in keyset pages; a table's references to itself (a fork's parent) are set by
a second pass over the file once all its rows are in. Values are the ORM's:
datetimes as ISO 8601 with offset, UUIDs as strings, JSON columns as JSON.
Aerich's own table is not written: a restore needs a database migrated to the
same migrations, which then already holds it. Because values go through each
field's own conversion, a backup taken on SQLite restores on PostgreSQL and
back with identical content.

A restore is one transaction: it commits every row or none. It also raises
each counter that allocates sequence numbers to the highest number its rows
use (see `COUNTERS`), so a backup taken by an older, inconsistent version
still gives a database that takes new messages and events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import asyncpg
from tortoise import Tortoise, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import BaseORMException
from tortoise.models import Model
from tortoise.transactions import in_transaction

from core.clock import utcnow
from core.database import APP_LABEL, Database, Statement
from core.database.schema import applied_migrations
from core.database.snapshot import Snapshot, read_snapshot
from models import TRANSIENT_MODELS, ChatSession, Message, Run, RunEvent
from models.columns import ModelColumns
from project.management.terminal import Progress

FORMAT = "terrapin-backup"
VERSION = 1
PAGE_SIZE = 1000  # rows read per keyset page
BATCH_SIZE = 500  # rows inserted per statement batch
# What the database drivers raise for a row they refuse (bad type, broken
# foreign key, duplicate key), as the ORM wraps them or not.
_REFUSED_ROW = (BaseORMException, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error)


class BackupError(Exception):
    """The backup file or the target database is not usable."""


@dataclass(frozen=True)
class Counter:
    """A counter that hands out its children's `seq`: it must be at least their highest seq."""

    parent: type[Model]
    counter: str
    child: type[Model]
    link: str  # the child's foreign-key column to the parent

    @property
    def name(self) -> str:
        """`table.column`, as the restore reports it."""
        return f"{self.parent._meta.db_table}.{self.counter}"

    def repair_sql(self) -> str:
        """Raise the counter of every parent that is behind its children; return their ids."""
        parent, child = self.parent._meta.db_table, self.child._meta.db_table
        key = _columns(self.parent)[self.parent._meta.pk_attr]
        highest = f'(SELECT MAX(c.seq) FROM "{child}" c WHERE c.{self.link} = "{parent}".{key})'
        return (
            f'UPDATE "{parent}" SET {self.counter} = {highest} '
            f"WHERE {self.counter} < {highest} RETURNING {key}"
        )


# A session's message_count is its last message seq, a run's event_count its last event
# seq: a counter behind its rows makes every later append collide (409 forever).
COUNTERS = (
    Counter(ChatSession, "message_count", Message, "session_id"),
    Counter(Run, "event_count", RunEvent, "run_id"),
)
_REPAIRS = {counter: Statement(counter.repair_sql) for counter in COUNTERS}


@dataclass
class Restored:
    """What a restore did: rows per table, counters raised, sequences moved."""

    rows: dict[str, int]
    repaired: dict[str, int]
    sequences: list[str]


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
    """The application's models, parents before children; Aerich's and transient tables left out."""
    models = [
        m
        for m in Tortoise.apps[APP_LABEL].values()
        if m._meta.db_table != "aerich" and m not in TRANSIENT_MODELS
    ]
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


class _Table:
    """One table as a backup reads it in a snapshot: its row count and keyset pages."""

    def __init__(self, model: type[Model]) -> None:
        self.name = str(model._meta.db_table)
        self.columns = ModelColumns(model)
        self._pk = model._meta.pk_attr
        table, key = self.name, _columns(model)[self._pk]
        self._count = Statement(lambda: f'SELECT COUNT(*) AS n FROM "{table}"')
        self._first = Statement(
            lambda: f'SELECT {self.columns.select()} FROM "{table}" ORDER BY {key} LIMIT $1'
        )
        self._after = Statement(
            lambda: (
                f'SELECT {self.columns.select()} FROM "{table}" '
                f"WHERE {key} > $1 ORDER BY {key} LIMIT $2"
            )
        )

    async def count(self, snapshot: Snapshot) -> int:
        """Rows in the snapshot."""
        [row] = await snapshot.fetch(self._count)
        return int(row["n"])

    async def pages(
        self, snapshot: Snapshot, database: Database
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the rows as dicts of ORM values, in primary-key keyset pages."""
        rows = await snapshot.fetch(self._first, PAGE_SIZE)
        while rows:
            page = [self.columns.values(database, row) for row in rows]
            yield page
            rows = await snapshot.fetch(self._after, page[-1][self._pk], PAGE_SIZE)


async def write_backup(out: IO[str], database: Database, progress: Progress) -> dict[str, int]:
    """Write every table to `out` from one snapshot; return the row count per table."""
    ordered = app_models()
    applied = sorted(await applied_migrations(), key=lambda name: int(name.split("_", 1)[0]))
    counts: dict[str, int] = {}
    async with read_snapshot(database) as snapshot:
        tables = [_Table(model) for model in ordered]
        # The first read fixes the snapshot: the header's time is the data's time.
        totals = {table.name: await table.count(snapshot) for table in tables}
        header = {
            "format": FORMAT,
            "version": VERSION,
            "migration_head": applied[-1] if applied else None,
            "migrations": applied,
            "dialect": database.dialect.value,
            "created_at": utcnow(),
            "tables": {m._meta.db_table: list(_columns(m).values()) for m in ordered},
        }
        out.write(_dumps(header) + "\n")
        for table in tables:
            counts[table.name] = 0
            async for rows in table.pages(snapshot, database):
                out.writelines(_dumps({"table": table.name, "row": row}) + "\n" for row in rows)
                counts[table.name] += len(rows)
                progress.update(table.name, counts[table.name], totals[table.name])
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


async def restore(
    path: Path, plan: RestorePlan, database: Database, progress: Progress, *, wipe: bool
) -> Restored:
    """Load the file in one transaction (after deleting every row, with `wipe`).

    Any failure rolls everything back, the deletion included: the database is
    left exactly as it was.
    """
    models = app_models()
    async with in_transaction() as conn:
        if wipe:
            for model in reversed(models):  # children first
                # Not execute_script: SQLite's executescript commits the transaction first.
                await conn.execute_query(f'DELETE FROM "{model._meta.db_table}"')
        rows = await load_rows(conn, path, plan, progress)
        repaired = await repair_counters(database)
        sequences = await fix_sequences(conn)
    return Restored(rows, repaired, sequences)


async def load_rows(
    conn: BaseDBAsyncClient, path: Path, plan: RestorePlan, progress: Progress
) -> dict[str, int]:
    """Insert the file's rows in batches, in the caller's transaction."""
    by_table = {m._meta.db_table: m for m in app_models()}
    counts = dict.fromkeys(plan.rows, 0)
    batch = _Batch(conn)
    for number, table, row in _rows(path):
        model = by_table.get(table)
        if model is None:
            raise BackupError(f"line {number} of the backup holds an unknown table {table!r}")
        if model is not batch.model or len(batch.values) >= BATCH_SIZE:
            await batch.flush()
            batch.model, batch.first_line = model, number
        batch.values.append(_db_values(model, row, number))
        counts[table] = counts.get(table, 0) + 1
        progress.update(table, counts[table], plan.rows.get(table))
    await batch.flush()
    await _link_rows_to_their_table(conn, path, by_table)
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


async def _link_rows_to_their_table(
    conn: BaseDBAsyncClient, path: Path, by_table: dict[str, type[Model]]
) -> None:
    """Set the foreign keys a table has to itself, in a second pass over the file.

    Rows are inserted in primary-key order, so a row can come before the row
    it names; those columns are inserted empty (see `_db_values`) and set
    here, once every row of the table exists.
    """
    for table, model in by_table.items():
        pk = model._meta.pk
        for name, reference in _self_references(model).items():
            sql = _link_sql(model, name, conn)
            batch: list[list[Any]] = []
            for _number, row_table, row in _rows(path):
                if row_table == table and row.get(name) is not None:
                    key = pk.to_db_value(row[model._meta.pk_attr], model)
                    batch.append([reference.to_db_value(row[name], model), key])
                if len(batch) >= BATCH_SIZE:
                    await conn.execute_many(sql, batch)
                    batch = []
            if batch:
                await conn.execute_many(sql, batch)


def _link_sql(model: type[Model], name: str, conn: BaseDBAsyncClient) -> str:
    """Set field `name` of the row with a primary key: ($1 value, $2 key)."""
    columns = _columns(model)
    value, key = ("$1", "$2") if conn.capabilities.dialect == "postgres" else ("?", "?")
    return (
        f'UPDATE "{model._meta.db_table}" SET "{columns[name]}" = {value} '
        f'WHERE "{columns[model._meta.pk_attr]}" = {key}'
    )


class _Batch:
    """Rows of one table waiting to be inserted together, with where they are in the file."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn
        self.model: type[Model] | None = None
        self.first_line = 0
        self.values: list[list[Any]] = []

    async def flush(self) -> None:
        """Insert the rows; a row the database refuses fails the restore with its lines."""
        if self.model is None or not self.values:
            return
        try:
            await self.conn.execute_many(_insert_sql(self.model, self.conn), self.values)
        except _REFUSED_ROW as exc:
            last = self.first_line + len(self.values) - 1
            raise BackupError(
                f"the database refused a {self.model._meta.db_table} row "
                f"(lines {self.first_line}-{last} of the backup): {_one_line(exc)}"
            ) from None
        self.values = []


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _rows(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Yield (line number, table, row) up to the end marker."""
    with path.open(encoding="utf-8") as lines:
        next(lines)  # the header, checked by read_plan
        for number, line in enumerate(lines, start=2):
            try:
                item = json.loads(line)
            except ValueError:
                raise BackupError(f"line {number} of the backup is not JSON") from None
            if isinstance(item, dict) and "end" in item:
                return
            if not (isinstance(item, dict) and isinstance(item.get("row"), dict)):
                raise BackupError(f"line {number} of the backup is not a row")
            yield number, str(item.get("table")), item["row"]


def _db_values(model: type[Model], row: dict[str, Any], number: int) -> list[Any]:
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
        try:
            if value is not None and isinstance(column, fields.DatetimeField):
                value = datetime.fromisoformat(value)
            values.append(None if value is None else column.to_db_value(value, model))
        except (TypeError, ValueError) as exc:
            table = model._meta.db_table
            raise BackupError(
                f"line {number} of the backup: {table}.{name} {_one_line(exc)}"
            ) from None
    return values


def _insert_sql(model: type[Model], conn: BaseDBAsyncClient) -> str:
    columns = list(_columns(model).values())
    postgres = conn.capabilities.dialect == "postgres"
    marks = [f"${i}" if postgres else "?" for i in range(1, len(columns) + 1)]
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{model._meta.db_table}" ({names}) VALUES ({", ".join(marks)})'


async def repair_counters(database: Database) -> dict[str, int]:
    """Raise each counter behind its rows' highest seq (see `COUNTERS`); count those raised."""
    repaired = {}
    for counter, statement in _REPAIRS.items():
        raised: Sequence[Mapping[str, Any]] = await database.execute(statement)
        if raised:
            repaired[counter.name] = len(raised)
    return repaired


async def fix_sequences(conn: BaseDBAsyncClient) -> list[str]:
    """Move PostgreSQL sequences of generated integer keys past the restored ids."""
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
