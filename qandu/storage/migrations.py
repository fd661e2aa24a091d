"""Versioned schema migrations for SQLite and PostgreSQL.

``schema_version`` holds one row per applied migration.  ``MIGRATIONS`` is append-only:
migration *n* (1-based) brings the schema from version *n-1* to *n*.  Never edit a released
migration; add a new one.  The DDL is written out here rather than derived from the models,
so that old migrations keep producing the schema they always produced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import peewee

from qandu.domain import utcnow
from qandu.storage.fields import UtcDateTimeField
from qandu.storage.teamwork_schema import annotation_indexes, teamwork_migration

Backend = Literal["sqlite", "postgresql"]
#: Column types per backend, substituted into the DDL below.
Dialect = dict[str, str]
Migration = Callable[[peewee.Database, Dialect], None]

DIALECTS: dict[str, Dialect] = {
    "sqlite": {"ts": "TEXT", "json": "TEXT", "bool": "INTEGER", "serial": "INTEGER PRIMARY KEY"},
    "postgresql": {
        "ts": "TIMESTAMPTZ",
        "json": "JSONB",
        "bool": "BOOLEAN",
        "serial": "BIGSERIAL PRIMARY KEY",
    },
}

#: Arbitrary constant for ``pg_advisory_xact_lock``: several nodes starting at once migrate in turn.
_PG_MIGRATION_LOCK = 0x51A4D0

_V1_DDL = (
    """CREATE TABLE users (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT UNIQUE,
        external_id TEXT UNIQUE,
        password_hash TEXT,
        avatar TEXT,
        attributes {json} NOT NULL,
        created_at {ts} NOT NULL)""",
    "CREATE INDEX users_role ON users (role, created_at)",
    """CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        priority TEXT NOT NULL,
        source TEXT NOT NULL,
        context {json},
        custom_fields {json},
        tags {json} NOT NULL,
        bot TEXT,
        assignee_id TEXT,
        last_seq BIGINT NOT NULL DEFAULT 0,
        started_at {ts} NOT NULL,
        last_message_at {ts} NOT NULL,
        updated_at {ts} NOT NULL)""",
    "CREATE INDEX conversations_recent ON conversations (last_message_at, id)",
    "CREATE INDEX conversations_status ON conversations (status, last_message_at)",
    "CREATE INDEX conversations_assignee ON conversations (assignee_id, last_message_at)",
    """CREATE TABLE participants (
        id {serial},
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users (id),
        type TEXT NOT NULL,
        role TEXT NOT NULL,
        joined_at {ts} NOT NULL,
        left_at {ts},
        UNIQUE (conversation_id, user_id))""",
    "CREATE INDEX participants_user ON participants (user_id, conversation_id)",
    """CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        client_msg_id TEXT,
        sender_id TEXT NOT NULL,
        sender_type TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        sender_avatar TEXT,
        content_type TEXT NOT NULL,
        text TEXT,
        file_url TEXT,
        metadata {json},
        reply_to TEXT,
        attachments {json} NOT NULL,
        private {bool} NOT NULL DEFAULT FALSE,
        created_at {ts} NOT NULL,
        edited_at {ts},
        deleted_at {ts},
        UNIQUE (conversation_id, seq),
        UNIQUE (conversation_id, sender_id, client_msg_id))""",
    """CREATE TABLE reactions (
        id {serial},
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        emoji TEXT NOT NULL,
        created_at {ts} NOT NULL,
        UNIQUE (message_id, user_id, emoji))""",
    """CREATE TABLE receipts (
        id {serial},
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        delivered_seq BIGINT NOT NULL DEFAULT 0,
        read_seq BIGINT NOT NULL DEFAULT 0,
        UNIQUE (conversation_id, user_id))""",
    """CREATE TABLE status_changes (
        id {serial},
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        from_status TEXT NOT NULL,
        to_status TEXT NOT NULL,
        changed_by TEXT,
        reason TEXT,
        changed_at {ts} NOT NULL)""",
    "CREATE INDEX status_changes_conversation ON status_changes (conversation_id, id)",
)


def _v1_initial(database: peewee.Database, dialect: Dialect) -> None:
    """Create the first schema: users, conversations, participants, messages, reactions..."""
    for statement in _V1_DDL:
        database.execute_sql(statement.format(**dialect))


_ROUTING_DDL = (
    "ALTER TABLE conversations ADD COLUMN priority_reason TEXT",
    "ALTER TABLE conversations ADD COLUMN team_id TEXT",
    "ALTER TABLE conversations ADD COLUMN queued_at {ts}",
    "ALTER TABLE conversations ADD COLUMN first_response_at {ts}",
    "ALTER TABLE conversations ADD COLUMN first_response_due {ts}",
    "ALTER TABLE conversations ADD COLUMN next_response_due {ts}",
    "ALTER TABLE conversations ADD COLUMN first_response_breached {bool} NOT NULL DEFAULT FALSE",
    "ALTER TABLE conversations ADD COLUMN next_response_breached {bool} NOT NULL DEFAULT FALSE",
    "CREATE INDEX conversations_queue ON conversations (status, assignee_id, queued_at)",
    "CREATE INDEX conversations_first_due ON conversations (first_response_due)",
    "CREATE INDEX conversations_next_due ON conversations (next_response_due)",
    """CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        skills {json} NOT NULL,
        languages {json} NOT NULL,
        business_hours {json},
        timezone TEXT NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL)""",
    """CREATE TABLE team_members (
        id {serial},
        team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        UNIQUE (team_id, user_id))""",
    "CREATE INDEX team_members_user ON team_members (user_id)",
    """CREATE TABLE agents (
        user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        status_at {ts} NOT NULL,
        present_until {ts},
        skills {json} NOT NULL,
        languages {json} NOT NULL,
        max_chats INTEGER,
        last_assigned_at {ts})""",
    """CREATE TABLE inboxes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source TEXT,
        bot TEXT,
        team_id TEXT REFERENCES teams (id) ON DELETE SET NULL,
        created_at {ts} NOT NULL)""",
)


def _routing(database: peewee.Database, dialect: Dialect) -> None:
    """Routing: priority reason, team, queue and SLA columns; teams, members, agents, inboxes."""
    for statement in _ROUTING_DDL:
        database.execute_sql(statement.format(**dialect))


_UPLOADS_DDL = (
    """CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        uploader_id TEXT NOT NULL,
        name TEXT NOT NULL,
        size BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        declared_type TEXT,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        verdicts {json} NOT NULL,
        storage_key TEXT,
        thumbnail_key TEXT,
        width INTEGER,
        height INTEGER,
        client_msg_id TEXT,
        created_at {ts} NOT NULL,
        scanned_at {ts})""",
    "CREATE INDEX uploads_conversation ON uploads (conversation_id, created_at)",
    "CREATE INDEX uploads_status ON uploads (status, created_at)",
    "CREATE INDEX uploads_sha256 ON uploads (sha256)",
)


def _uploads(database: peewee.Database, dialect: Dialect) -> None:
    """File sharing: the uploads table (status, verdicts, storage key; see qandu.files.records)."""
    for statement in _UPLOADS_DDL:
        database.execute_sql(statement.format(**dialect))


def _message_annotations(database: peewee.Database, dialect: Dialect) -> None:
    """Message annotations from ``qandu_analyze_message`` (see qandu.storage.annotations)."""
    database.execute_sql(
        """CREATE TABLE message_annotations (
        message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
        annotations {json} NOT NULL,
        updated_at {ts} NOT NULL)""".format(**dialect)
    )


def _cluster_leases(database: peewee.Database, dialect: Dialect) -> None:
    """Cluster leases with fencing tokens (see qandu.storage.leases); times are epoch seconds."""
    database.execute_sql(
        """CREATE TABLE cluster_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL)"""
    )


def _uploads_thumbnail_index(database: peewee.Database, dialect: Dialect) -> None:
    """File retention looks up who still uses a thumbnail (see qandu.files.records.key_in_use)."""
    database.execute_sql("CREATE INDEX uploads_thumbnail ON uploads (thumbnail_key)")


#: Append-only list of migrations; the schema version is the number applied.
MIGRATIONS: tuple[Migration, ...] = (
    _v1_initial,
    _routing,
    _uploads,
    teamwork_migration,
    _message_annotations,
    annotation_indexes,
    _cluster_leases,
    _uploads_thumbnail_index,
)
LATEST_VERSION = len(MIGRATIONS)


def schema_version(database: peewee.Database) -> int:
    """Return the applied schema version (0 for an empty database)."""
    if "schema_version" not in database.get_tables():
        return 0
    (version,) = database.execute_sql("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(version)


def apply_migrations(database: peewee.Database, backend: Backend) -> int:
    """Apply every pending migration in one transaction; return the resulting version.

    Safe to call concurrently from several processes: SQLite serializes on ``BEGIN IMMEDIATE``,
    PostgreSQL on an advisory lock.  Raises ``RuntimeError`` if the database is newer than
    this code.
    """
    dialect = DIALECTS[backend]
    stamp = UtcDateTimeField(as_text=backend == "sqlite")
    transaction = database.atomic(lock_type="IMMEDIATE") if backend == "sqlite" else database.atomic()
    with transaction:
        if backend == "postgresql":
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
        database.execute_sql(
            "CREATE TABLE IF NOT EXISTS schema_version"
            f" (version INTEGER PRIMARY KEY, applied_at {dialect['ts']} NOT NULL)"
        )
        current = schema_version(database)
        if current > LATEST_VERSION:
            raise RuntimeError(
                f"database schema version {current} is newer than this QanDu understands ({LATEST_VERSION})"
            )
        for version in range(current + 1, LATEST_VERSION + 1):
            MIGRATIONS[version - 1](database, dialect)
            param = database.param
            database.execute_sql(
                f"INSERT INTO schema_version (version, applied_at) VALUES ({param}, {param})",
                (version, stamp.db_value(utcnow())),
            )
    return LATEST_VERSION
