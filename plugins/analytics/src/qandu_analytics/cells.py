"""Figures packed in ten-minute cells for the dashboard: first-response and resolution
durations, resolutions by whether a person took part, CSAT ratings and conversations started.

An exact median needs every value of the range, and reading 150,000 values as rows (or
joining them into text row by row) is what made a month's query slow.  So the writer keeps,
per kind and per ten minutes, one row holding that slot's values as text: ``vals``
(comma-separated numbers) and ``labels`` (``agent\\x1eteam`` of each value, ``\\x1f``-separated,
in the same order).  A month is 4,320 rows per kind, whatever the traffic.

A cell is a pure function of the facts tables: whenever a batch changes what a slot holds,
the writer recomputes that slot's cell from the facts (:func:`refresh`), in the same
transaction.  So the cells never drift from the facts, whatever order batches and nodes
apply events in, and :func:`rebuild` recreates all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

#: The width of a cell in seconds: hour and day buckets are whole numbers of cells.
SLOT = 600
SEP = "\x1f"  # between the labels of a cell (ids are printable)
PAIR = "\x1e"  # between the agent and the team of one label


def slot_of(at: float) -> int:
    return int(at // SLOT) * SLOT


@attrs.frozen
class Kind:
    """Where one kind of cell's values come from: a table's rows, keyed by ``time``, with a
    ``value`` (``{greatest}`` stands for the backend's two-argument maximum), an agent and a team."""

    table: str
    time: str
    value: str
    agent: str
    team: str
    condition: str = "TRUE"

    def value_sql(self, db: Any) -> str:
        return self.value.format(greatest="GREATEST" if db.backend == "postgresql" else "MAX")


KINDS = {
    # seconds from when a person was needed (the handoff, or the start) to the first agent message
    "first_response": Kind(
        "analytics_conversations",
        "first_response_at",
        "{greatest}(first_response_at - CASE WHEN handoff_at IS NOT NULL AND handoff_at <= first_response_at"
        " THEN handoff_at ELSE started_at END, 0)",
        "first_agent_id",
        "team_id",
        "started_at IS NOT NULL",
    ),
    "resolution": Kind(
        "analytics_resolutions", "at", "seconds", "agent_id", "team_id", "seconds IS NOT NULL"
    ),
    # every resolution: 0 of a conversation without a bot, 1 a bot's a person took part in,
    # 2 a bot's no person took part in (contained)
    "resolved": Kind(
        "analytics_resolutions",
        "at",
        "CASE WHEN bot IS NULL THEN 0 WHEN assisted = 1 THEN 1 ELSE 2 END",
        "agent_id",
        "team_id",
    ),
    "csat": Kind("analytics_csat", "at", "rating", "agent_id", "team_id"),
    # conversations started: 0 without a bot, 1 a bot's, 2 a bot's handed to people (so far)
    "started": Kind(
        "analytics_conversations",
        "started_at",
        "CASE WHEN bot IS NULL THEN 0 WHEN handoff_at IS NULL THEN 1 ELSE 2 END",
        "agent_id",
        "team_id",
    ),
}


def concat(db: Any, expression: str, separator: str = ",") -> str:
    """An aggregate joining ``expression`` over the rows into one string."""
    if db.backend == "postgresql":
        return f"string_agg(({expression})::text, chr({ord(separator)}))"
    return f"group_concat({expression}, char({ord(separator)}))"


def refresh(db: Any, kind: str, slots: Iterable[int]) -> None:
    """Recompute the cells of ``slots`` from the facts (in slot order: concurrent writers on
    PostgreSQL lock them in one order, so they wait for each other instead of deadlocking)."""
    source = KINDS[kind]
    label = f"COALESCE({source.agent}, '') || '{PAIR}' || COALESCE({source.team}, '')"
    select = (
        f"SELECT COUNT(*), {concat(db, source.value_sql(db))}, {concat(db, label, SEP)} FROM {source.table}"
        f" WHERE {source.time} >= ? AND {source.time} < ? AND {source.condition}"
    )
    for slot in sorted(set(slots)):
        # take the cell's row lock first: the facts read next then include every batch committed
        # before ours (PostgreSQL reads each statement at its own snapshot)
        db.sql(
            "INSERT INTO analytics_cells (kind, slot, n, vals, labels) VALUES (?, ?, 0, '', '')"
            " ON CONFLICT (kind, slot) DO UPDATE SET n = analytics_cells.n",
            (kind, slot),
        )
        n, vals, labels = db.sql(select, (slot, slot + SLOT)).fetchone()
        if n:
            db.sql(
                "UPDATE analytics_cells SET n = ?, vals = ?, labels = ? WHERE kind = ? AND slot = ?",
                (n, vals, labels, kind, slot),
            )
        else:
            db.sql("DELETE FROM analytics_cells WHERE kind = ? AND slot = ?", (kind, slot))


def rebuild(db: Any) -> None:
    """Recompute every cell from the facts."""
    db.sql("DELETE FROM analytics_cells")
    for kind, source in KINDS.items():
        times = db.sql(f"SELECT DISTINCT {source.time} FROM {source.table} WHERE {source.time} IS NOT NULL")
        refresh(db, kind, {slot_of(at) for (at,) in times.fetchall()})


def read(db: Any, kind: str, start: int, end: int, *, labels: bool = True) -> list[tuple[int, int, str, str]]:
    """The cells of ``kind`` in ``[start, end)`` (multiples of :data:`SLOT`): slot, n, vals and
    labels (``""`` without ``labels``)."""
    column = "labels" if labels else "''"
    return db.sql(
        f"SELECT slot, n, vals, {column} FROM analytics_cells WHERE kind = ? AND slot >= ? AND slot < ?",
        (kind, start, end),
    ).fetchall()
