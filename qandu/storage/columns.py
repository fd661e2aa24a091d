"""Small helpers for hand-written SQL: rows as dicts, timestamps and JSON on either backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from qandu.storage.fields import JSONField, UtcDateTimeField
from qandu.storage.models import Db

_TIMESTAMPS = {True: UtcDateTimeField(as_text=True), False: UtcDateTimeField(as_text=False)}
_JSON = {True: JSONField(as_text=True), False: JSONField(as_text=False)}


def to_db_time(db: Db, value: dt.datetime | None) -> Any:
    """A datetime as the backend stores it (fixed-width UTC text on SQLite)."""
    return _TIMESTAMPS[db.backend == "sqlite"].db_value(value)


def from_db_time(db: Db, value: Any) -> dt.datetime | None:
    """An aware UTC datetime from what the backend returned."""
    return _TIMESTAMPS[db.backend == "sqlite"].python_value(value)


def to_db_json(db: Db, value: Any) -> Any:
    return _JSON[db.backend == "sqlite"].db_value(value)


def from_db_json(db: Db, value: Any) -> Any:
    return _JSON[db.backend == "sqlite"].python_value(value)


def fetch_dicts(db: Db, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run ``statement`` (``?`` placeholders) and return its rows as dicts keyed by column name."""
    cursor = db.sql(statement, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch_one(db: Db, statement: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
    rows = fetch_dicts(db, statement, params)
    return rows[0] if rows else None
