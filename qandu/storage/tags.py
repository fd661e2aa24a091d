"""Conversation tags: one row per (conversation, tag) with who added it, how, and removals.

``conversations.tags`` keeps the active tags as a JSON list for the wire; the
``conversation_tags`` table is what filters and counts use (indexed by tag).  A removed tag
keeps its row as a tombstone so that automatic tagging does not put it back; adding it by
hand revives it.
"""

from __future__ import annotations

from collections.abc import Sequence

from qandu.domain import Conversation, utcnow
from qandu.errors import NotFound
from qandu.storage.columns import fetch_dicts, to_db_time
from qandu.storage.conversations import require_conversation, update_conversation
from qandu.storage.models import Db

MANUAL = "manual"
AUTO = "auto"


def _state(db: Db, conversation_id: str) -> dict[str, bool]:
    """``{tag: active}`` for every tag the conversation ever had."""
    rows = db.sql(
        "SELECT tag, removed_at FROM conversation_tags WHERE conversation_id = ?", (conversation_id,)
    ).fetchall()
    return {tag: removed_at is None for tag, removed_at in rows}


def _save(db: Db, conversation_id: str, active: list[str]) -> Conversation:
    """Write the active tags, in the order they were added, to ``conversations.tags``."""
    return update_conversation(db, conversation_id, tags=active)


def add_tags(
    db: Db, conversation_id: str, tags: Sequence[str], *, source: str, by: str | None
) -> tuple[Conversation, list[str]]:
    """Add normalised ``tags``; return the conversation and the tags that were new.

    ``source`` is ``manual`` (an agent) or ``auto`` (a plugin); automatic tags never revive
    a tag an agent removed.
    """
    conversation = require_conversation(db, conversation_id)
    added = insert_tags(db, conversation_id, tags, source=source, by=by)
    if added:
        conversation = _save(db, conversation_id, [*conversation.tags, *added])
    return conversation, added


def insert_tags(
    db: Db, conversation_id: str, tags: Sequence[str], *, source: str, by: str | None
) -> list[str]:
    """Record the new ones of ``tags`` in ``conversation_tags``; return them (in order).

    The caller appends them to ``conversations.tags`` (see :func:`add_tags`).
    """
    state = _state(db, conversation_id)
    now = to_db_time(db, utcnow())
    added: list[str] = []
    for tag in dict.fromkeys(tags):
        if state.get(tag):
            continue
        if tag in state:
            if source != MANUAL:
                continue
            db.sql(
                "UPDATE conversation_tags SET source = ?, added_by = ?, added_at = ?, removed_by = NULL,"
                " removed_at = NULL WHERE conversation_id = ? AND tag = ?",
                (source, by, now, conversation_id, tag),
            )
        else:
            db.sql(
                "INSERT INTO conversation_tags (conversation_id, tag, source, added_by, added_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (conversation_id, tag, source, by, now),
            )
        state[tag] = True
        added.append(tag)
    return added


def remove_tag(db: Db, conversation_id: str, tag: str, *, by: str | None) -> Conversation:
    """Remove an active tag (``NotFound`` if the conversation does not have it)."""
    conversation = require_conversation(db, conversation_id)
    changed = db.sql(
        "UPDATE conversation_tags SET removed_by = ?, removed_at = ?"
        " WHERE conversation_id = ? AND tag = ? AND removed_at IS NULL",
        (by, to_db_time(db, utcnow()), conversation_id, tag),
    ).rowcount
    if not changed:
        raise NotFound(f"the conversation has no tag {tag!r}", field="tag")
    return _save(db, conversation_id, [t for t in conversation.tags if t != tag])


def tag_counts(db: Db, prefix: str = "", limit: int = 50) -> list[tuple[str, int]]:
    """Tags in use, most used first, optionally those starting with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = fetch_dicts(
        db,
        "SELECT tag, COUNT(*) AS n FROM conversation_tags WHERE removed_at IS NULL AND tag LIKE ? ESCAPE '\\'"
        " GROUP BY tag ORDER BY n DESC, tag LIMIT ?",
        (escaped + "%", limit),
    )
    return [(row["tag"], int(row["n"])) for row in rows]
