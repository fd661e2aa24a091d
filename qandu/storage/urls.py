"""Storage URLs (``sqlite:///path`` and ``postgresql://...``) and the peewee database they open."""

from __future__ import annotations

import pathlib
import re
import urllib.parse
from typing import Literal

import attrs
import peewee

Backend = Literal["sqlite", "postgresql"]

#: ``busy_timeout`` for SQLite, milliseconds: how long a connection waits for another one's lock.
SQLITE_BUSY_TIMEOUT_MS = 5000

#: SQLite pragmas applied to every connection.
#: ``synchronous=FULL``: in WAL mode ``NORMAL`` survives an application crash but may lose the
#: last commits on power loss, and an ack promises durability.  With group commit the fsync is
#: paid once per batch, not per message (see benchmarks/storage_bench.py).
SQLITE_PRAGMAS: dict[str, object] = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    "cache_size": -16000,  # 16 MB page cache per connection
    "temp_store": "memory",
}

#: PostgreSQL ``lock_timeout`` for every connection.
PG_LOCK_TIMEOUT = "10s"

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@attrs.frozen
class StorageTarget:
    """Where the data lives: a SQLite file or a PostgreSQL database (and schema)."""

    backend: Backend
    path: pathlib.Path | None = None
    conninfo: str | None = None
    schema: str | None = None
    #: libpq ``options`` given in the URL (``?options=-c%20statement_timeout%3D5000``), kept
    #: apart because QanDu adds its own (time zone, search path) to them.
    options: str = ""


def parse_url(url: str, *, data_dir: pathlib.Path) -> StorageTarget:
    """Parse a storage URL; relative SQLite paths are resolved against ``data_dir``.

    ``sqlite:///var/qandu.sqlite3`` is relative, ``sqlite:////srv/qandu.sqlite3`` absolute;
    ``postgresql://user@host:5432/db?schema=name`` selects (and creates) a schema.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "sqlite":
        return _sqlite_target(parts, data_dir)
    if parts.scheme in ("postgresql", "postgres"):
        return _postgresql_target(parts)
    raise ValueError(f"unsupported storage URL {url!r} (use sqlite:///... or postgresql://...)")


def _sqlite_target(parts: urllib.parse.SplitResult, data_dir: pathlib.Path) -> StorageTarget:
    if parts.netloc or parts.query:
        raise ValueError("a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
    raw = urllib.parse.unquote(parts.path)[1:]
    if not raw or raw == ":memory:":
        raise ValueError("a SQLite URL needs a file path (in-memory databases are not shared by threads)")
    path = pathlib.Path(raw)
    if not path.is_absolute():
        path = pathlib.Path(data_dir) / path
    return StorageTarget(backend="sqlite", path=path)


def _postgresql_target(parts: urllib.parse.SplitResult) -> StorageTarget:
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), None)
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid PostgreSQL schema name {schema!r}")
    options = " ".join(value for key, value in query if key == "options")
    rest = urllib.parse.urlencode([(key, value) for key, value in query if key not in ("schema", "options")])
    conninfo = urllib.parse.urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
    return StorageTarget(backend="postgresql", conninfo=conninfo, schema=schema, options=options)


def make_database(target: StorageTarget) -> peewee.Database:
    """Create the (not yet connected) peewee database; each thread gets its own connection."""
    if target.backend == "sqlite":
        assert target.path is not None
        return peewee.SqliteDatabase(
            str(target.path), pragmas=SQLITE_PRAGMAS, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
        )
    # A lock held elsewhere must not wedge the writer (callers wait for writes shielded from
    # cancellation): past this, the waiting job fails alone.  The URL's options may override it.
    options = f"-c lock_timeout={PG_LOCK_TIMEOUT} {target.options} -c TimeZone=UTC"
    if target.schema is not None:
        options += f" -c search_path={target.schema}"
    extra = {} if "application_name=" in (target.conninfo or "") else {"application_name": "qandu"}
    return peewee.PostgresqlDatabase(target.conninfo, options=options, **extra)


def prepare_target(target: StorageTarget, database: peewee.Database) -> None:
    """Create what must exist before migrations: the data directory or the PostgreSQL schema."""
    if target.path is not None:
        target.path.parent.mkdir(parents=True, exist_ok=True)
    if target.schema is not None:
        database.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')
