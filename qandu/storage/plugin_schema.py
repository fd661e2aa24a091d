"""Plugins' own tables: an append-only list of migrations per plugin, like the core's.

A plugin passes ``migrations``, a sequence of ``fn(db)`` (``db`` is a
:class:`qandu.storage.models.Db`; ``db.backend`` is ``sqlite`` or ``postgresql``), to
:meth:`qandu.storage.Store.migrate_plugin` at start-up.  Migration *n* brings the plugin's
schema from version *n-1* to *n*; ``plugin_schema_versions`` records what was applied, in
the same transaction as the DDL.  Several nodes starting at once apply each migration once
(SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock per plugin).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

from qandu.domain import utcnow
from qandu.storage.columns import to_db_time
from qandu.storage.models import Db

PluginMigration = Callable[[Db], None]


def plugin_schema_version(db: Db, plugin: str) -> int:
    (version,) = db.sql(
        "SELECT COALESCE(MAX(version), 0) FROM plugin_schema_versions WHERE plugin = ?", (plugin,)
    ).fetchone()
    return int(version)


def apply_plugin_migrations(db: Db, plugin: str, migrations: Sequence[PluginMigration]) -> int:
    """Apply the plugin's pending migrations (runs as one writer job: one transaction)."""
    if db.is_postgresql:
        db.sql("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(f"qandu-plugin:{plugin}".encode()),))
    current = plugin_schema_version(db, plugin)
    if current > len(migrations):
        raise RuntimeError(
            f"plugin {plugin!r}: database schema version {current} is newer than"
            f" the plugin's ({len(migrations)})"
        )
    for version in range(current + 1, len(migrations) + 1):
        migrations[version - 1](db)
        db.sql(
            "INSERT INTO plugin_schema_versions (plugin, version, applied_at) VALUES (?, ?, ?)",
            (plugin, version, to_db_time(db, utcnow())),
        )
    return len(migrations)
