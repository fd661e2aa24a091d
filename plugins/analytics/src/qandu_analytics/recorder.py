"""Turning events into rows: the buffered records and the batch job the store's writer runs.

Hooks only append a small record to an in-memory list (no I/O on the message path); the
plugin's service hands a batch to the store's group-committing writer, where
:func:`apply_batch` runs in one transaction.  Per-message records are folded first (one
counter update per conversation and per hour, however many messages), lifecycle events are
applied one by one in the order they happened.  Every write is an increment or a
min/max-style update, so the order in which nodes and batches arrive does not change the result.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import attrs
import orjson

from qandu_analytics import cells

HOUR = 3600

#: Lifecycle events the facts are built from (every event is kept in the raw log).
FACT_EVENTS = frozenset(
    {
        "conversation.started",
        "conversation.status_changed",
        "conversation.handed_off",
        "conversation.assigned",
        "conversation.transferred",
        "conversation.tagged",
        "csat.submitted",
        "sla.breached",
        "bot.replied",
    }
)
#: Events that can change a conversation's cells: its start, bot, handoff, agent or team.
CELL_EVENTS = frozenset(
    {
        "conversation.started",
        "conversation.handed_off",
        "conversation.assigned",
        "conversation.transferred",
        "conversation.status_changed",
    }
)


def epoch(value: dt.datetime) -> float:
    return value.timestamp()


def hour_of(at: float) -> int:
    return int(at // HOUR) * HOUR


@attrs.frozen
class MessageRecord:
    """A stored customer or agent message, with what the NLU said about it."""

    conversation_id: str
    at: float
    sender: str  # user | agent
    sender_id: str
    intent: str | None = None
    sentiment: float | None = None
    sentiment_label: str | None = None


@attrs.frozen
class EventRecord:
    name: str
    conversation_id: str | None
    at: float
    data: dict[str, Any]


Record = MessageRecord | EventRecord


class _Folded:
    """What a batch adds up to: per-conversation counters and hourly rollups."""

    def __init__(self) -> None:
        self.rollups: Counter[tuple[int, str, str]] = Counter()
        self.rollup_totals: defaultdict[tuple[int, str, str], float] = defaultdict(float)
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.sentiment: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self.first_response: dict[str, tuple[float, str]] = {}
        self.csat_slots: set[int] = set()

    def count(self, at: float, metric: str, key: str, total: float = 0.0) -> None:
        bucket = (hour_of(at), metric, key)
        self.rollups[bucket] += 1
        self.rollup_totals[bucket] += total

    def message(self, record: MessageRecord) -> None:
        cid = record.conversation_id
        self.count(record.at, "messages", record.sender)
        self.counts[cid]["messages_customer" if record.sender == "user" else "messages_agent"] += 1
        if record.sender == "agent":
            known = self.first_response.get(cid)
            if known is None or record.at < known[0]:
                self.first_response[cid] = (record.at, record.sender_id)
            return
        if record.intent:
            self.count(record.at, "intent", record.intent)
        if record.sentiment is not None:
            self.count(record.at, "sentiment", record.sentiment_label or "", record.sentiment)
            totals = self.sentiment[cid]
            totals[0] += record.sentiment
            totals[1] += 1


def _ensure(db: Any, conversation_id: str) -> None:
    db.sql(
        "INSERT INTO analytics_conversations (conversation_id) VALUES (?)"
        " ON CONFLICT (conversation_id) DO NOTHING",
        (conversation_id,),
    )


_FACTS = ("started_at", "opened_at", "bot", "agent_id", "team_id", "handoff_at", "first_response_at")
#: A person took part (a handoff or an agent's message) at or before a resolution.
_ASSISTED = (
    "UPDATE analytics_resolutions SET assisted = 1 WHERE conversation_id = ? AND at >= ? AND assisted = 0"
)


def _facts(db: Any, conversation_id: str) -> dict[str, Any]:
    row = db.sql(
        f"SELECT {', '.join(_FACTS)} FROM analytics_conversations WHERE conversation_id = ?",
        (conversation_id,),
    ).fetchone()
    keys = _FACTS
    return dict(zip(keys, row, strict=True)) if row else dict.fromkeys(keys)


def _earliest(column: str) -> str:
    return f"{column} = CASE WHEN {column} IS NULL OR {column} > ? THEN ? ELSE {column} END"


def _apply_event(db: Any, record: EventRecord, folded: _Folded) -> None:
    """Update the facts for one lifecycle event."""
    name, cid, at, data = record.name, record.conversation_id, record.at, record.data
    if cid is None:
        return
    _ensure(db, cid)
    update = "UPDATE analytics_conversations SET {} WHERE conversation_id = ?"
    if name == "conversation.started":
        db.sql(
            update.format(
                "started_at = ?, opened_at = COALESCE(opened_at, ?), bot = ?, source = ?,"
                " team_id = COALESCE(team_id, ?), status = COALESCE(status, 'active')"
            ),
            (at, at, data.get("bot"), data.get("source"), data.get("teamId"), cid),
        )
    elif name == "conversation.handed_off":
        db.sql(update.format(_earliest("handoff_at")), (at, at, cid))
        db.sql(_ASSISTED, (cid, at))  # when it arrives after a resolution it preceded
    elif name in ("conversation.assigned", "conversation.transferred"):
        agent = data.get("agentId") or data.get("toAgentId")
        db.sql(
            update.format("agent_id = COALESCE(?, agent_id), team_id = COALESCE(?, team_id)"),
            (agent, data.get("teamId"), cid),
        )
    elif name == "conversation.status_changed":
        _status_changed(db, cid, at, data)
    elif name == "csat.submitted":
        folded.csat_slots.add(cells.slot_of(at))
        db.sql(
            "INSERT INTO analytics_csat (survey_id, conversation_id, at, rating, agent_id, team_id)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (survey_id) DO NOTHING",
            (
                data.get("surveyId") or f"{cid}:{at}",
                cid,
                at,
                int(data["rating"]),
                data.get("agentId"),
                data.get("teamId"),
            ),
        )
    elif name == "sla.breached":
        folded.count(at, "sla_breach", str(data.get("kind", "")))
        db.sql(update.format("sla_breaches = sla_breaches + 1"), (cid,))
    elif name == "bot.replied":
        folded.count(at, "messages", "bot")
        folded.counts[cid]["messages_bot"] += 1
    elif name == "conversation.tagged":
        for tag in data.get("added") or ():
            folded.count(at, "tag", str(tag))


def _status_changed(db: Any, cid: str, at: float, data: dict[str, Any]) -> None:
    to, came_from = data.get("to"), data.get("from")
    facts = _facts(db, cid)
    agent = data.get("agentId") or facts["agent_id"]
    team = data.get("teamId") or facts["team_id"]
    if to == "resolved":
        opened = facts["opened_at"] if facts["opened_at"] is not None else facts["started_at"]
        assisted = any(
            facts[key] is not None and facts[key] <= at for key in ("handoff_at", "first_response_at")
        )
        db.sql(
            "INSERT INTO analytics_resolutions"
            " (conversation_id, at, seconds, agent_id, team_id, bot, assisted) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, at, None if opened is None else at - opened, agent, team, facts["bot"], int(assisted)),
        )
        db.sql(
            "UPDATE analytics_conversations SET status = ?, resolved_at = ?, agent_id = ?, team_id = ?"
            " WHERE conversation_id = ?",
            (to, at, agent, team, cid),
        )
    elif came_from in ("resolved", "archived") and to in ("active", "pending"):
        db.sql(
            "UPDATE analytics_conversations SET status = ?, opened_at = ? WHERE conversation_id = ?",
            (to, at, cid),
        )
    else:
        db.sql("UPDATE analytics_conversations SET status = ? WHERE conversation_id = ?", (to, cid))


def _lock_in_order(db: Any, records: list[Record]) -> None:
    """Create or lock every conversation row the batch touches, in id order (PostgreSQL).

    Nodes flush their batches concurrently; taking the rows in one order makes a batch wait
    for another instead of deadlocking with it (each would otherwise lock rows in the order
    its events happened).
    """
    touched: set[str] = set()
    for record in records:
        relevant = isinstance(record, MessageRecord) or record.name in FACT_EVENTS
        if relevant and record.conversation_id:
            touched.add(record.conversation_id)
    if touched:
        db.database.cursor().executemany(
            _param(
                db,
                "INSERT INTO analytics_conversations (conversation_id) VALUES (?)"
                " ON CONFLICT (conversation_id) DO UPDATE SET conversation_id = excluded.conversation_id",
            ),
            [(cid,) for cid in sorted(touched)],
        )


#: What the cells read of a conversation's row (``started_at`` and ``first_response_at`` are
#: the times of its ``started`` and ``first_response`` cells) and of its resolutions.
_CONVERSATION_FACTS = (
    "SELECT conversation_id, started_at, first_response_at, first_agent_id, handoff_at, agent_id,"
    " team_id, bot FROM analytics_conversations WHERE conversation_id IN"
)
_RESOLUTION_FACTS = "SELECT id, at, assisted FROM analytics_resolutions WHERE conversation_id IN"


def _rows_of(db: Any, select: str, conversation_ids: list[str]) -> set[tuple[Any, ...]]:
    """The rows ``select`` (ending in ``IN``) gives for these conversations, 500 ids at a time."""
    rows: set[tuple[Any, ...]] = set()
    for i in range(0, len(conversation_ids), 500):
        chunk = conversation_ids[i : i + 500]
        rows.update(db.sql(f"{select} ({', '.join('?' * len(chunk))})", tuple(chunk)).fetchall())
    return rows


def _cell_facts(db: Any, conversation_ids: list[str]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    return _rows_of(db, _CONVERSATION_FACTS, conversation_ids), _rows_of(
        db, _RESOLUTION_FACTS, conversation_ids
    )


def _refresh_cells(
    db: Any,
    before: tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]],
    after: tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]],
    csat_slots: set[int],
) -> None:
    """Recompute the cells of every slot whose facts the batch changed: a changed row's old and
    new versions both count, so a first response that moved to an earlier time leaves its old
    slot too; an agent's message that changed nothing refreshes nothing.  Kinds in one order
    (concurrent writers on PostgreSQL lock cells in one order)."""
    conversations = before[0] ^ after[0]
    for kind, column in (("started", 1), ("first_response", 2)):
        cells.refresh(
            db, kind, {cells.slot_of(row[column]) for row in conversations if row[column] is not None}
        )
    resolutions = {cells.slot_of(at) for _, at, _ in before[1] ^ after[1]}
    cells.refresh(db, "resolution", resolutions)
    cells.refresh(db, "resolved", resolutions)
    cells.refresh(db, "csat", csat_slots)


def _cells_touched(records: list[Record]) -> list[str]:
    """Conversations whose cells the batch may change (an agent's message may be a first response)."""
    touched = {
        record.conversation_id
        for record in records
        if record.conversation_id
        and (
            (isinstance(record, MessageRecord) and record.sender == "agent")
            or (isinstance(record, EventRecord) and record.name in CELL_EVENTS)
        )
    }
    return sorted(touched)


def apply_batch(db: Any, records: Iterable[Record]) -> int:
    """Write a batch of records (one writer job, one transaction); return how many.

    The facts first, then the cells of every slot whose facts the batch changed."""
    records = list(records)
    if db.is_postgresql:
        _lock_in_order(db, records)
    touched = _cells_touched(records)
    before = _cell_facts(db, touched)
    folded = _Folded()
    log: list[tuple[Any, ...]] = []
    count = 0
    for record in records:
        count += 1
        if isinstance(record, MessageRecord):
            folded.message(record)
            continue
        log.append((record.name, record.conversation_id, record.at, orjson.dumps(record.data).decode()))
        if record.name in FACT_EVENTS:
            _apply_event(db, record, folded)
    cursor = db.database.cursor()
    if log:
        cursor.executemany(
            _param(db, "INSERT INTO analytics_events (name, conversation_id, at, data) VALUES (?, ?, ?, ?)"),
            log,
        )
    for cid in folded.counts.keys() | folded.sentiment.keys() | folded.first_response.keys():
        _ensure(db, cid)
    updates = [
        (
            counts["messages_customer"],
            counts["messages_agent"],
            counts["messages_bot"],
            *folded.sentiment.get(cid, (0.0, 0)),
            cid,
        )
        for cid, counts in folded.counts.items()
    ]
    sentiment_only = [(s, n, cid) for cid, (s, n) in folded.sentiment.items() if cid not in folded.counts]
    if updates:
        cursor.executemany(
            _param(
                db,
                "UPDATE analytics_conversations SET messages_customer = messages_customer + ?,"
                " messages_agent = messages_agent + ?, messages_bot = messages_bot + ?,"
                " sentiment_sum = sentiment_sum + ?, sentiment_n = sentiment_n + ? WHERE conversation_id = ?",
            ),
            updates,
        )
    if sentiment_only:
        cursor.executemany(
            _param(
                db,
                "UPDATE analytics_conversations SET sentiment_sum = sentiment_sum + ?,"
                " sentiment_n = sentiment_n + ? WHERE conversation_id = ?",
            ),
            sentiment_only,
        )
    if folded.first_response:
        cursor.executemany(
            _param(
                db,
                "UPDATE analytics_conversations SET first_agent_id = CASE WHEN first_response_at IS NULL"
                " OR first_response_at > ? THEN ? ELSE first_agent_id END, "
                + _earliest("first_response_at")
                + " WHERE conversation_id = ?",
            ),
            [(at, agent, at, at, cid) for cid, (at, agent) in folded.first_response.items()],
        )
        cursor.executemany(
            _param(db, _ASSISTED), [(cid, at) for cid, (at, _) in folded.first_response.items()]
        )
    if folded.rollups:
        cursor.executemany(
            _param(
                db,
                "INSERT INTO analytics_rollups (hour, metric, key, n, total) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (hour, metric, key) DO UPDATE SET n = analytics_rollups.n + excluded.n,"
                " total = analytics_rollups.total + excluded.total",
            ),
            [(*key, n, folded.rollup_totals[key]) for key, n in sorted(folded.rollups.items())],
        )
    _refresh_cells(db, before, _cell_facts(db, touched), folded.csat_slots)
    return count


def _param(db: Any, statement: str) -> str:
    return statement.replace("?", db.database.param) if db.database.param != "?" else statement


def prune_events(db: Any, before: float) -> int:
    """Drop raw log entries older than ``before`` (the aggregates stay)."""
    return int(db.sql("DELETE FROM analytics_events WHERE at < ?", (before,)).rowcount)
