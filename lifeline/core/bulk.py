"""Writing many rows in one statement, with every value prepared by its model field.

The worker's bulk step (:mod:`lifeline.conversations.bulk`) writes the rows of dozens of
conversations at once: one INSERT per table, one UPDATE per kind of change, instead of one
statement per row through the ORM (which cost most of a step: docs/performance.md). Values go
through their fields' ``get_db_prep_save``, exactly as the ORM would send them, so a UUID, a
time or an encrypted column is stored the same way on PostgreSQL and SQLite. Encrypted values
are sealed here, bound to their row as :class:`~lifeline.core.fields.EncryptedField` binds them;
a plaintext never reaches the SQL.

On PostgreSQL the rows travel as one array per column (``unnest``): the statement stays a few
lines long however many rows it carries, so neither psycopg nor PostgreSQL parses a statement
of thousands of parameters. SQLite gets a plain multi-row ``VALUES``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, models

from . import crypto
from .fields import EncryptedField, Sealed

#: Rows per statement on SQLite, which takes at most 32,766 parameters (since 3.32).
SQLITE_MAX_PARAMETERS = 30_000

if TYPE_CHECKING:
    Field = models.Field[Any, Any]
else:
    Field = models.Field


def seal(
    model: type[models.Model],
    field_name: str,
    pk: Any,
    value: Any,
    key: crypto.DataKeyLike | None = None,
) -> Sealed | None:
    """``value`` encrypted for ``model.field_name`` of row ``pk`` (None stays None), under the
    data key of the row's owner (``key``: a case's, a contact's) or else the root key."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, EncryptedField):
        raise TypeError(f"{model.__name__}.{field_name} is not an encrypted field")
    if value is None:
        return None
    token = crypto.encrypt(
        field.to_bytes(value),
        table=model._meta.db_table,
        column=field.column,
        pk=str(pk),
        data_key=key,
    )
    return Sealed(token)


def _fields(model: type[models.Model], names: Sequence[str]) -> list[Field]:
    return [cast(Field, model._meta.get_field(name)) for name in names]


def _prepared(field: Field, value: Any) -> Any:
    if isinstance(field, EncryptedField) and value is not None and not isinstance(value, Sealed):
        raise crypto.CryptoError(f"refusing to write a plaintext into {field.column}")
    return field.get_db_prep_save(value, connection)


def _columns(
    fields: Sequence[Field], names: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[list[Any]]:
    """The rows' values, column by column, prepared by their fields."""
    columns: list[list[Any]] = [[] for _ in fields]
    for row in rows:
        if list(row) != list(names):
            raise ValueError("every row must name the same fields, in the same order")
        for column, field, name in zip(columns, fields, names, strict=True):
            column.append(_prepared(field, row[name]))
    return columns


def _chunks(values: list[list[Any]]) -> list[tuple[int, list[Any]]]:
    """SQLite's multi-row VALUES: (rows, their parameters row after row), a statement each."""
    per_statement = max(1, SQLITE_MAX_PARAMETERS // len(values))
    count = len(values[0])
    found = []
    for start in range(0, count, per_statement):
        rows = list(zip(*(column[start : start + per_statement] for column in values), strict=True))
        found.append((len(rows), [value for row in rows for value in row]))
    return found


def _array(field: Field) -> str:
    return f"%s::{field.db_type(connection)}[]"


def insert(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT the rows (attribute name -> value; every row names the same fields; a model's
    automatic primary key may be left out)."""
    if not rows:
        return
    names = list(rows[0])
    fields = _fields(model, names)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    table = quote(model._meta.db_table)
    values = _columns(fields, names, rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(_array(f) for f in fields)
            sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608 - quoted names, values as parameters
            cursor.execute(sql, values)
            return
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for count, params in _chunks(values):
            rows_sql = ", ".join([one] * count)
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {rows_sql}", params)  # noqa: S608 - quoted names, values as parameters


def update(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE each row (``pk`` -> its primary key, then attribute name -> new value; every row
    names the same fields) in one statement."""
    if not rows:
        return
    names = list(rows[0])
    if names[0] != "pk":
        raise ValueError("a row to update starts with its pk")
    pk_field = model._meta.pk
    assert pk_field is not None  # noqa: S101 - every model has one
    fields = [pk_field, *_fields(model, names[1:])]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    values = _columns(fields, names, rows)
    postgres = connection.vendor == "postgresql"
    # SQLite cannot name a VALUES list's columns: they are column1, column2, ...
    aliases = [f"v{i}" if postgres else f"column{i + 1}" for i in range(len(fields))]
    sets = ", ".join(
        f"{quote(str(f.column))} = v.{alias}"
        for f, alias in zip(fields[1:], aliases[1:], strict=True)
    )
    where = f"WHERE {table}.{quote(str(pk_field.column))} = v.{aliases[0]}"
    with connection.cursor() as cursor:
        if postgres:
            arrays = ", ".join(_array(f) for f in fields)
            named = f"v({', '.join(aliases)})"
            sql = f"UPDATE {table} SET {sets} FROM unnest({arrays}) AS {named} {where}"  # noqa: S608 - quoted names, values as parameters
            cursor.execute(sql, values)
            return
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for count, params in _chunks(values):
            rows_sql = ", ".join([one] * count)
            sql = f"UPDATE {table} SET {sets} FROM (VALUES {rows_sql}) AS v {where}"  # noqa: S608 - quoted names, values as parameters
            cursor.execute(sql, params)
