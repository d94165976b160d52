"""What hand-written statements know of a model, derived from the model itself.

A named query that is written by hand (because building it through the ORM
costs more than running it) still takes its column list and its row mapping
from here, so a field added to a model reaches every such query without an
edit: `ModelColumns(Run).select()` lists every stored column of `run`, and
`.instance(database, row)` turns a row into a `Run` through the ORM's public
`Model.construct`, each value decoded by its field's type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

from tortoise import fields
from tortoise.models import Model

from core.database import Database
from core.database.values import datetime_value, json_value, uuid_value

M = TypeVar("M", bound=Model)
Decoder = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _enum_decoder(enum_type: type[Enum]) -> Decoder:
    return lambda value: None if value is None else enum_type(value)


def _bool(value: Any) -> Any:
    return None if value is None else bool(value)


def _decoder(field: fields.Field[Any]) -> Decoder:
    """How a value of `field` arrives from either driver, turned into its Python type."""
    if isinstance(field, fields.UUIDField):
        return uuid_value
    if isinstance(field, fields.DatetimeField):
        return datetime_value
    if isinstance(field, fields.JSONField):
        return json_value
    enum_type = getattr(field, "enum_type", None)
    if enum_type is not None:
        return _enum_decoder(enum_type)
    if isinstance(field, fields.BooleanField):
        return _bool
    return _identity


class ModelColumns(Generic[M]):
    """The stored columns of `model` (all, or the named fields) and the decoding of its rows.

    Everything is read from the model's metadata when it is used: a model's
    foreign-key columns (`session_id`) only exist once the ORM has resolved
    its relations, after the model modules are imported.
    """

    def __init__(self, model: type[M], field_names: Iterable[str] | None = None) -> None:
        self.model = model
        self._names = None if field_names is None else tuple(field_names)

    def only(self, *field_names: str) -> ModelColumns[M]:
        """The same model, restricted to some of its fields."""
        return ModelColumns(self.model, field_names)

    @property
    def table(self) -> str:
        """The model's table."""
        return str(self.model._meta.db_table)

    @property
    def columns(self) -> dict[str, str]:
        """Field name -> column name, for the selected fields."""
        projection: dict[str, str] = dict(self.model._meta.fields_db_projection)
        if self._names is None:
            return projection
        unknown = [name for name in self._names if name not in projection]
        if unknown:
            raise ValueError(f"{self.model.__name__} has no stored field {', '.join(unknown)}")
        return {name: projection[name] for name in self._names}

    def select(self, alias: str = "", prefix: str = "") -> str:
        """The select list: `col` (or `alias.col AS prefixfield`) for every field."""
        qualifier = f"{alias}." if alias else ""
        parts = []
        for name, column in self.columns.items():
            label = f"{prefix}{name}"
            parts.append(f"{qualifier}{column}" + ("" if label == column else f" AS {label}"))
        return ", ".join(parts)

    def values(
        self, database: Database, row: Mapping[str, Any], prefix: str = ""
    ) -> dict[str, Any]:
        """Field name -> Python value, for a row selected with `select(prefix=…)`."""
        return database.derived(self, self._decoder).values(row, prefix)

    def instance(self, database: Database, row: Mapping[str, Any], prefix: str = "") -> M:
        """The model instance a row holds (as the ORM would have loaded it)."""
        if self._names is not None:
            raise TypeError(f"a {self.model.__name__} needs every column, not {self._names}")
        values = database.derived(self, self._decoder).values(row, prefix)
        return self.model.construct(_saved_in_db=True, **values)

    def _decoder(self) -> RowDecoder:
        fields_map = self.model._meta.fields_map
        return RowDecoder(tuple((name, _decoder(fields_map[name])) for name in self.columns))

    def json_decoded(self, database: Database, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with their JSON columns decoded and the rest as the driver gave them.

        For a response schema to validate directly (it parses ids and
        timestamps itself, faster than building them here first).
        """
        names = database.derived((self, "json"), self._json_fields)
        for row in rows:
            for name in names:
                row[name] = json_value(row[name])
        return rows

    def _json_fields(self) -> tuple[str, ...]:
        fields_map = self.model._meta.fields_map
        return tuple(
            name for name in self.columns if isinstance(fields_map[name], fields.JSONField)
        )


class RowDecoder:
    """Turns rows into field values, one decoder per column (derived once per database)."""

    __slots__ = ("_decoders",)

    def __init__(self, decoders: tuple[tuple[str, Decoder], ...]) -> None:
        self._decoders = decoders

    def values(self, row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        """Field name -> Python value."""
        if prefix:
            return {name: decode(row[prefix + name]) for name, decode in self._decoders}
        return {name: decode(row[name]) for name, decode in self._decoders}
