"""Hand-written SQL for the hot paths (append, history, conversation reads and updates), mapped
through the models' fields.

Building a query with peewee costs 100-500 µs of Python per statement, ten times the
statement itself; the group-commit writer runs thousands of them per second.  These helpers
keep the models as the single description of columns and conversions, and skip the builder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import peewee

from qandu.storage.fields import JSONField, UtcDateTimeField

_CONVERTED = (UtcDateTimeField, JSONField, peewee.BooleanField)


class TableSql:
    """SELECT/INSERT text for one model's table, and row encoding/decoding with its fields."""

    def __init__(self, model: type[peewee.Model], param: str) -> None:
        self.fields: list[peewee.Field] = list(model._meta.sorted_fields)
        self.param = param
        self.table = table = model._meta.table_name
        self._by_name = {field.name: field for field in self.fields}
        columns = ", ".join(f'"{field.column_name}"' for field in self.fields)
        placeholders = ", ".join([param] * len(self.fields))
        self.select = f'SELECT {columns} FROM "{table}"'
        self.insert = f'INSERT INTO "{table}" ({columns}) VALUES ({placeholders})'
        self._names = [field.name for field in self.fields]
        self._converters = [
            (index, field.name, field.python_value)
            for index, field in enumerate(self.fields)
            if isinstance(field, _CONVERTED)
        ]

    def columns(self, alias: str) -> str:
        """The column list qualified with a table alias, for joins."""
        return ", ".join(f'{alias}."{field.column_name}"' for field in self.fields)

    def where(self, condition: str) -> str:
        """``SELECT ... WHERE condition``; write placeholders in ``condition`` as ``?``."""
        return f"{self.select} WHERE {self.placeholders(condition)}"

    def update(self, names: Sequence[str], condition: str) -> str:
        """``UPDATE ... SET`` the fields ``names`` ``WHERE condition`` (placeholders written ``?``)."""
        sets = ", ".join(f'"{self.column(name)}" = {self.param}' for name in names)
        return f'UPDATE "{self.table}" SET {sets} WHERE {self.placeholders(condition)}'

    def encode_fields(self, changes: Mapping[str, Any]) -> tuple[Any, ...]:
        """Values for :meth:`update` of ``changes`` (field name -> value), in their order."""
        return tuple(self._by_name[name].db_value(value) for name, value in changes.items())

    def placeholders(self, text: str) -> str:
        return text.replace("?", self.param) if self.param != "?" else text

    def encode(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """Values for :attr:`insert`, from a dict keyed by field name."""
        return tuple(field.db_value(row[field.name]) for field in self.fields)

    def decode(self, values: Sequence[Any]) -> dict[str, Any]:
        """A row as a dict keyed by field name (like peewee's ``.dicts()``).

        Text and integer columns come from both drivers as ``str``/``int`` already; only
        timestamps, JSON and booleans go through their field's ``python_value``.
        """
        row = dict(zip(self._names, values, strict=True))
        for index, name, convert in self._converters:
            row[name] = convert(values[index])
        return row

    def column(self, name: str) -> str:
        """The column name of the field ``name``."""
        return str(self._by_name[name].column_name)

    def decode_column(self, name: str, value: Any) -> Any:
        """One column's value as the field ``name`` reads it."""
        return self._by_name[name].python_value(value)

    def decode_all(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        return [self.decode(values) for values in rows]

    @staticmethod
    def in_list(count: int) -> str:
        """``(?, ?, ...)`` with ``count`` placeholders."""
        return "(" + ", ".join(["?"] * count) + ")"
