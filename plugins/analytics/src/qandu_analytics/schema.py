"""The analytics tables, applied with ``Store.migrate_plugin("analytics", MIGRATIONS)``.

Times are seconds since the epoch (UTC) as floating point numbers: the same arithmetic and
bucketing on SQLite and PostgreSQL, and no date parsing while aggregating.

- ``analytics_events``: the raw log of lifecycle events (kept ``event_log_days``).
- ``analytics_conversations``: one row of facts per conversation (start, bot, team, agent,
  handoff, first response, counts, sentiment).
- ``analytics_resolutions``: one row per resolution (its duration, agent, team, and whether
  a person took part before it: ``assisted``).
- ``analytics_csat``: one row per answered survey.
- ``analytics_rollups``: hourly counters (messages by sender, intents, sentiment, tags, SLA breaches).
- ``analytics_cells`` (v2): per kind and ten minutes, the slot's first-response and resolution
  durations, resolutions by whether a person took part, CSAT ratings and conversations started,
  packed for the dashboard (see :mod:`qandu_analytics.cells`).
"""

from __future__ import annotations

from typing import Any

from qandu_analytics import cells

_TABLES = (
    """CREATE TABLE analytics_events (
        id {serial},
        name TEXT NOT NULL,
        conversation_id TEXT,
        at {real} NOT NULL,
        data TEXT NOT NULL)""",
    "CREATE INDEX analytics_events_at ON analytics_events (at)",
    "CREATE INDEX analytics_events_name ON analytics_events (name, at)",
    """CREATE TABLE analytics_conversations (
        conversation_id TEXT PRIMARY KEY,
        started_at {real},
        opened_at {real},
        bot TEXT,
        source TEXT,
        team_id TEXT,
        agent_id TEXT,
        status TEXT,
        handoff_at {real},
        first_response_at {real},
        first_agent_id TEXT,
        resolved_at {real},
        messages_customer INTEGER NOT NULL DEFAULT 0,
        messages_agent INTEGER NOT NULL DEFAULT 0,
        messages_bot INTEGER NOT NULL DEFAULT 0,
        sentiment_sum {real} NOT NULL DEFAULT 0,
        sentiment_n INTEGER NOT NULL DEFAULT 0,
        sla_breaches INTEGER NOT NULL DEFAULT 0)""",
    # covering indexes: recomputing a cell scans a range of times without touching the table
    """CREATE INDEX analytics_conversations_started
        ON analytics_conversations (started_at, bot, handoff_at, agent_id, team_id)""",
    """CREATE INDEX analytics_conversations_first_response
        ON analytics_conversations (first_response_at, handoff_at, started_at, first_agent_id, team_id)""",
    """CREATE TABLE analytics_resolutions (
        id {serial},
        conversation_id TEXT NOT NULL,
        at {real} NOT NULL,
        seconds {real},
        agent_id TEXT,
        team_id TEXT,
        bot TEXT,
        assisted INTEGER NOT NULL DEFAULT 0)""",
    """CREATE INDEX analytics_resolutions_at
        ON analytics_resolutions (at, seconds, agent_id, team_id, bot, assisted)""",
    "CREATE INDEX analytics_resolutions_conversation ON analytics_resolutions (conversation_id, at)",
    """CREATE TABLE analytics_csat (
        survey_id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        at {real} NOT NULL,
        rating INTEGER NOT NULL,
        agent_id TEXT,
        team_id TEXT)""",
    "CREATE INDEX analytics_csat_at ON analytics_csat (at, rating, agent_id, team_id)",
    """CREATE TABLE analytics_rollups (
        hour BIGINT NOT NULL,
        metric TEXT NOT NULL,
        key TEXT NOT NULL,
        n BIGINT NOT NULL,
        total {real} NOT NULL,
        PRIMARY KEY (hour, metric, key))""",
)

_TYPES = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY", "real": "REAL"},
    "postgresql": {"serial": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION"},
}


def _v1(db: Any) -> None:
    """The event log, conversation facts, resolutions, CSAT answers and hourly rollups."""
    for statement in _TABLES:
        db.sql(statement.format(**_TYPES[db.backend]))


def _v2(db: Any) -> None:
    """Figures packed per kind and ten minutes, built from the facts already recorded."""
    db.sql(
        """CREATE TABLE analytics_cells (
            kind TEXT NOT NULL,
            slot BIGINT NOT NULL,
            n INTEGER NOT NULL,
            vals TEXT NOT NULL,
            labels TEXT NOT NULL,
            PRIMARY KEY (kind, slot))"""
    )
    cells.rebuild(db)


MIGRATIONS = (_v1, _v2)
