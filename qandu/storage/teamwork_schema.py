"""Schema migration for teamwork and review: tags, canned responses, notifications, CSAT,
follow-ups, reply threads, plugin schema versions and full-text search of messages.

Full-text search is backend-specific: SQLite keeps an FTS5 table in step with ``messages``
through triggers (so every writer keeps it current in the same transaction); PostgreSQL
gets a generated ``tsvector`` column with a GIN index.  Both tokenise without stemming or
accent folding (``unicode61 remove_diacritics 0`` / the ``simple`` configuration), and
PostgreSQL's parser first sees the punctuation it would otherwise keep inside a token
(``NL-48213``, ``ann@example.com``, ``v1.2``) as spaces, as FTS5 does, so a query finds the
same messages on either backend.
"""

from __future__ import annotations

from typing import Any

import peewee

_DDL = (
    """CREATE TABLE conversation_tags (
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        source TEXT NOT NULL,
        added_by TEXT,
        added_at {ts} NOT NULL,
        removed_by TEXT,
        removed_at {ts},
        PRIMARY KEY (conversation_id, tag))""",
    "CREATE INDEX conversation_tags_tag ON conversation_tags (tag, conversation_id)",
    """CREATE TABLE canned_responses (
        id TEXT PRIMARY KEY,
        shortcut TEXT NOT NULL,
        language TEXT NOT NULL,
        text TEXT NOT NULL,
        created_by TEXT,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        UNIQUE (shortcut, language))""",
    """CREATE TABLE notifications (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        conversation_id TEXT,
        message_id TEXT,
        actor_id TEXT,
        data {json} NOT NULL,
        dedupe_key TEXT UNIQUE,
        created_at {ts} NOT NULL,
        read_at {ts})""",
    "CREATE INDEX notifications_user ON notifications (user_id, created_at)",
    """CREATE TABLE csat_surveys (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        message_id TEXT,
        agent_id TEXT,
        team_id TEXT,
        sent_at {ts} NOT NULL,
        rating INTEGER,
        comment TEXT,
        answered_by TEXT,
        answered_at {ts})""",
    "CREATE INDEX csat_surveys_conversation ON csat_surveys (conversation_id, sent_at)",
    """CREATE TABLE followups (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        text TEXT,
        due_at {ts} NOT NULL,
        created_by TEXT NOT NULL,
        created_at {ts} NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        lease_until {ts},
        fired_at {ts},
        message_id TEXT,
        error TEXT)""",
    "CREATE INDEX followups_due ON followups (status, due_at)",
    "CREATE INDEX followups_conversation ON followups (conversation_id, due_at)",
    "CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL",
    """CREATE TABLE plugin_schema_versions (
        plugin TEXT NOT NULL,
        version INTEGER NOT NULL,
        applied_at {ts} NOT NULL,
        PRIMARY KEY (plugin, version))""",
)

# The FTS5 row id lives in its own table: ``messages`` has a text primary key, and the
# implicit rowid of such a table may change on VACUUM.
_SQLITE_SEARCH = (
    "CREATE TABLE message_search_ids (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 0')",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.text IS NOT NULL BEGIN
        INSERT INTO message_search_ids (message_id) VALUES (new.id);
        INSERT INTO messages_fts (rowid, text) VALUES (last_insert_rowid(), new.text);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = (SELECT id FROM message_search_ids WHERE message_id = old.id);
        INSERT OR IGNORE INTO message_search_ids (message_id) SELECT new.id WHERE new.text IS NOT NULL;
        INSERT INTO messages_fts (rowid, text)
            SELECT id, new.text FROM message_search_ids WHERE message_id = new.id AND new.text IS NOT NULL;
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM messages_fts WHERE rowid = (SELECT id FROM message_search_ids WHERE message_id = old.id);
        DELETE FROM message_search_ids WHERE message_id = old.id;
    END""",
    "INSERT INTO message_search_ids (message_id) SELECT id FROM messages WHERE text IS NOT NULL",
    """INSERT INTO messages_fts (rowid, text)
        SELECT s.id, m.text FROM message_search_ids s JOIN messages m ON m.id = s.message_id""",
    """INSERT INTO conversation_tags (conversation_id, tag, source, added_at)
        SELECT c.id, j.value, 'manual', c.updated_at FROM conversations c, json_each(c.tags) j""",
)

_POSTGRES_SEARCH = (
    """ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', regexp_replace(coalesce(text, ''), '[-@./:+#&=?~]', ' ', 'g'))) STORED""",
    "CREATE INDEX messages_search ON messages USING GIN (search)",
    """INSERT INTO conversation_tags (conversation_id, tag, source, added_at)
        SELECT c.id, j.value, 'manual', c.updated_at
        FROM conversations c, jsonb_array_elements_text(c.tags) j""",
)


def teamwork_migration(database: peewee.Database, dialect: dict[str, Any]) -> None:
    """Tags, canned responses, notifications, CSAT, follow-ups, threads, search, plugin schemas."""
    for statement in _DDL:
        database.execute_sql(statement.format(**dialect))
    sqlite = dialect["json"] == "TEXT"
    for statement in _SQLITE_SEARCH if sqlite else _POSTGRES_SEARCH:
        database.execute_sql(statement)


def annotation_indexes(database: peewee.Database, dialect: dict[str, Any]) -> None:
    """Index the intent and sentiment label of ``message_annotations`` for the review filters."""
    if dialect["json"] == "TEXT":
        intent, label = (
            "json_extract(annotations, '$.intent.name')",
            "json_extract(annotations, '$.sentiment.label')",
        )
    else:
        intent, label = "(annotations -> 'intent' ->> 'name')", "(annotations -> 'sentiment' ->> 'label')"
    database.execute_sql(f"CREATE INDEX message_annotations_intent ON message_annotations ({intent})")
    database.execute_sql(f"CREATE INDEX message_annotations_sentiment ON message_annotations ({label})")
