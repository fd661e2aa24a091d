"""peewee fields for UTC timestamps and JSON that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import peewee

UTC = dt.UTC


def to_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def sqlite_timestamp(value: dt.datetime) -> str:
    """Render a datetime as SQLite text: fixed-width UTC, millisecond precision, sortable."""
    return to_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")


class UtcDateTimeField(peewee.Field):
    """A UTC timestamp: ``TIMESTAMPTZ`` on PostgreSQL, fixed-width text on SQLite.

    Values come back as aware UTC datetimes on both backends.
    """

    field_type = "TIMESTAMPTZ"

    def __init__(self, *args: Any, as_text: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.as_text = as_text

    def db_value(self, value: Any) -> Any:
        if value is None or not isinstance(value, dt.datetime):
            return value
        return sqlite_timestamp(value) if self.as_text else to_utc(value)

    def python_value(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)
        return to_utc(value)


class JSONField(peewee.Field):
    """JSON: ``JSONB`` on PostgreSQL (psycopg decodes it on read), text on SQLite."""

    field_type = "JSON"

    def __init__(self, *args: Any, as_text: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.as_text = as_text

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        return orjson.dumps(value).decode()

    def python_value(self, value: Any) -> Any:
        if self.as_text and value is not None:
            return orjson.loads(value)
        return value
