"""Conversation review for admins: filtered listing, reply threads, export pages, auto-archive.

Listing filters compose into one indexed query over ``conversations`` (tags through
``conversation_tags``, satisfaction through ``csat_surveys``), paged by keyset on
(``last_message_at``, ``id``) like the agents' list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
import peewee

from qandu.domain import Conversation, Message, StatusChange
from qandu.errors import InvalidRequest, InvalidTransition, NotFound
from qandu.storage import messages as msgs
from qandu.storage.columns import to_db_time
from qandu.storage.conversations import _with_participants, parse_cursor, set_status, status_history
from qandu.storage.models import Db

MAX_PAGE = 500


@attrs.frozen
class ReviewFilter:
    """What an admin narrows the conversation list to; ``None`` fields do not filter.

    ``tags`` must all be present; ``agent_id`` ``"none"`` means unassigned; the date range
    applies to ``started_at`` (``since`` inclusive, ``until`` exclusive); ``csat_min``/
    ``csat_max`` bound the conversation's latest answered rating; ``intent`` and ``sentiment``
    (a label) match a message of the conversation analysed that way (``message_annotations``).
    """

    status: str | None = None
    tags: tuple[str, ...] = ()
    agent_id: str | None = None
    team_id: str | None = None
    priority: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    csat_min: int | None = None
    csat_max: int | None = None
    intent: str | None = None
    sentiment: str | None = None
    participant_id: str | None = None


_TAGS = peewee.Table("conversation_tags", ("conversation_id", "tag", "removed_at"))
_SURVEYS = peewee.Table("csat_surveys", ("id", "conversation_id", "rating", "answered_at"))
_ANNOTATIONS = peewee.Table("message_annotations", ("message_id", "annotations"))


def _tagged(c: Any, tag: str) -> Any:
    t = _TAGS.alias("ct")
    return c.id.in_(t.select(t.conversation_id).where((t.tag == tag) & t.removed_at.is_null()))


def _csat(c: Any, low: int | None, high: int | None) -> Any:
    """The latest answered survey of the conversation has a rating within ``[low, high]``."""
    s = _SURVEYS.alias("cs")
    latest = (
        s.select(s.rating)
        .where((s.conversation_id == c.id) & s.rating.is_null(False))
        .order_by(s.answered_at.desc(), s.id.desc())
        .limit(1)
    )
    return peewee.fn.COALESCE(latest, 0).between(low or 1, high or 5)


def _annotated(db: Db, c: Any, path: tuple[str, str], value: str) -> Any:
    """A message of the conversation has ``value`` at ``path`` of its annotations (indexed)."""
    a, m = _ANNOTATIONS.alias("ma"), db.m.Message
    if db.is_postgresql:
        found = peewee.NodeList((a.annotations, peewee.SQL(f"-> '{path[0]}' ->> '{path[1]}'")), glue=" ")
    else:
        # the path written out (not a parameter) so that the expression index applies
        found = peewee.NodeList(
            (peewee.SQL("json_extract("), a.annotations, peewee.SQL(f", '$.{path[0]}.{path[1]}')")), glue=""
        )
    matching = m.select(m.conversation).join(a, on=(a.message_id == m.id)).where(found == value)
    return c.id.in_(matching)


def review_query(db: Db, where: ReviewFilter) -> Any:
    """The peewee query of conversations matching ``where`` (unordered, unlimited)."""
    c, p = db.m.Conversation, db.m.Participant
    query = c.select()
    if where.participant_id is not None:
        member = p.select(p.conversation).where((p.user == where.participant_id) & p.left_at.is_null())
        query = query.where(c.id.in_(member))
    if where.status is not None:
        query = query.where(c.status == where.status)
    for tag in where.tags:
        query = query.where(_tagged(c, tag))
    if where.agent_id == "none":
        query = query.where(c.assignee_id.is_null())
    elif where.agent_id is not None:
        query = query.where(c.assignee_id == where.agent_id)
    if where.team_id is not None:
        query = query.where(c.team_id == where.team_id)
    if where.priority is not None:
        query = query.where(c.priority == where.priority)
    if where.since is not None:
        query = query.where(c.started_at >= c.started_at.db_value(where.since))
    if where.until is not None:
        query = query.where(c.started_at < c.started_at.db_value(where.until))
    if where.intent is not None:
        query = query.where(_annotated(db, c, ("intent", "name"), where.intent))
    if where.sentiment is not None:
        query = query.where(_annotated(db, c, ("sentiment", "label"), where.sentiment))
    if where.csat_min is not None or where.csat_max is not None:
        query = query.where(_csat(c, where.csat_min, where.csat_max))
    return query


def review_conversations(
    db: Db, where: ReviewFilter, *, limit: int = 50, before: str | None = None
) -> list[Conversation]:
    """A page of matching conversations, most recent activity first."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    c = db.m.Conversation
    query = review_query(db, where).order_by(c.last_message_at.desc(), c.id.desc()).limit(limit)
    if before is not None:
        stamp, last_id = parse_cursor(before)
        key = peewee.Tuple(c.last_message_at, c.id)
        query = query.where(key < peewee.Tuple(c.last_message_at.db_value(stamp), last_id))
    return _with_participants(db, list(query.dicts()))


def all_messages(db: Db, conversation_id: str) -> list[Message]:
    """Every message of a conversation (private notes included), in seq order."""
    found: list[Message] = []
    while True:
        page = msgs.history(db, conversation_id, after_seq=found[-1].seq if found else 0, limit=msgs.MAX_PAGE)
        found += page
        if len(page) < msgs.MAX_PAGE:
            return found


def export_page(
    db: Db, where: ReviewFilter, *, limit: int, before: str | None
) -> list[tuple[Conversation, list[Message], list[StatusChange]]]:
    """A page of conversations for an export, each with all its messages and its status history."""
    page = review_conversations(db, where, limit=limit, before=before)
    return [(c, all_messages(db, c.id), status_history(db, c.id)) for c in page]


_THREAD = """
WITH RECURSIVE thread(id) AS (
    SELECT ?
    UNION
    SELECT m.id FROM messages m JOIN thread t ON m.reply_to = t.id
)
SELECT id FROM thread
"""


def thread(
    db: Db, message_id: str, *, include_private: bool, limit: int = 500
) -> tuple[Message, list[Message]]:
    """The thread ``message_id`` belongs to: its root and every reply below it, in seq order."""
    root = msgs.get_message(db, message_id)
    if root is None or (root.private and not include_private):
        raise NotFound(f"message {message_id} not found", field="messageId")
    seen = {root.id}
    while root.reply_to is not None:  # walk up to the root (guarding against cycles)
        parent = msgs.get_message(db, root.reply_to)
        if parent is None or parent.id in seen or (parent.private and not include_private):
            break
        seen.add(parent.id)
        root = parent
    ids = [row[0] for row in db.sql(_THREAD, (root.id,)).fetchall() if row[0] != root.id]
    replies: list[Message] = []
    t = db.messages
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        condition = f"id IN {t.in_list(len(chunk))}" + ("" if include_private else " AND NOT private")
        sql = db.database.execute_sql(t.where(condition), tuple(chunk))
        replies += msgs._messages(db, sorted(t.decode_all(sql), key=lambda row: row["seq"]))
    replies.sort(key=lambda message: message.seq)
    return root, replies[:limit]


def archive_resolved(
    db: Db, *, resolved_before: dt.datetime, reason: str, limit: int = 100
) -> list[tuple[Conversation, StatusChange]]:
    """Archive conversations resolved before ``resolved_before``, each checked in this transaction.

    A conversation another node archived (or someone reopened) meanwhile is skipped: the
    status check in :func:`set_status` runs under the row lock (PostgreSQL) or the writer's
    ``BEGIN IMMEDIATE`` (SQLite).  On PostgreSQL the candidates are locked with ``SKIP
    LOCKED``, so nodes sweeping at once split the work instead of queueing on each other's rows.
    """
    rows = db.sql(
        "SELECT c.id FROM conversations c WHERE c.status = 'resolved' AND ("
        "SELECT MAX(s.changed_at) FROM status_changes s WHERE s.conversation_id = c.id"
        " AND s.to_status = 'resolved') < ? ORDER BY c.id LIMIT ?"
        + (" FOR UPDATE OF c SKIP LOCKED" if db.is_postgresql else ""),
        (to_db_time(db, resolved_before), limit),
    ).fetchall()
    archived = []
    for (conversation_id,) in rows:
        try:
            archived.append(set_status(db, conversation_id, "archived", by=None, reason=reason))
        except (InvalidTransition, NotFound):
            continue
    return archived


def conversations_by_ids(db: Db, ids: Sequence[str]) -> list[Conversation]:
    c = db.m.Conversation
    rows = list(c.select().where(c.id.in_(list(ids))).dicts()) if ids else []
    return _with_participants(db, rows)
