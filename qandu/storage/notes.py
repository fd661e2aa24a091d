"""Canned responses and agents' notifications (mentions, reminders)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from qandu.domain import utcnow
from qandu.errors import Conflict, NotFound
from qandu.storage.columns import fetch_dicts, fetch_one, from_db_json, from_db_time, to_db_json, to_db_time
from qandu.storage.models import Db
from qandu.teamwork.types import CannedResponse, Notification

#: ``language`` of a canned response that fits every language.
ANY_LANGUAGE = ""

# -- canned responses ------------------------------------------------------------------------


def _canned(db: Db, row: dict[str, Any]) -> CannedResponse:
    return CannedResponse(
        id=row["id"],
        shortcut=row["shortcut"],
        text=row["text"],
        language=row["language"] or None,
        created_by=row["created_by"],
        created_at=from_db_time(db, row["created_at"]),  # type: ignore[arg-type]
        updated_at=from_db_time(db, row["updated_at"]),  # type: ignore[arg-type]
    )


def _taken(db: Db, shortcut: str, language: str, except_id: str | None = None) -> bool:
    row = fetch_one(
        db, "SELECT id FROM canned_responses WHERE shortcut = ? AND language = ?", (shortcut, language)
    )
    return row is not None and row["id"] != except_id


def _conflict(shortcut: str, language: str) -> Conflict:
    which = f"language {language!r}" if language else "all languages"
    return Conflict(f"a canned response /{shortcut} for {which} exists already", field="shortcut")


def create_canned(db: Db, *, shortcut: str, text: str, language: str | None, by: str) -> CannedResponse:
    language = language or ANY_LANGUAGE
    if _taken(db, shortcut, language):
        raise _conflict(shortcut, language)
    now = to_db_time(db, utcnow())
    canned_id = uuid.uuid4().hex
    db.sql(
        "INSERT INTO canned_responses (id, shortcut, language, text, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (canned_id, shortcut, language, text, by, now, now),
    )
    return get_canned(db, canned_id)


def get_canned(db: Db, canned_id: str) -> CannedResponse:
    row = fetch_one(db, "SELECT * FROM canned_responses WHERE id = ?", (canned_id,))
    if row is None:
        raise NotFound(f"no canned response {canned_id!r}", field="cannedResponseId")
    return _canned(db, row)


def update_canned(db: Db, canned_id: str, changes: dict[str, Any]) -> CannedResponse:
    """Change ``shortcut``, ``text`` and/or ``language`` (``None``: every language)."""
    current = get_canned(db, canned_id)
    shortcut = changes.get("shortcut", current.shortcut)
    language = changes.get("language", current.language) or ANY_LANGUAGE
    if _taken(db, shortcut, language, except_id=canned_id):
        raise _conflict(shortcut, language)
    db.sql(
        "UPDATE canned_responses SET shortcut = ?, language = ?, text = ?, updated_at = ? WHERE id = ?",
        (shortcut, language, changes.get("text", current.text), to_db_time(db, utcnow()), canned_id),
    )
    return get_canned(db, canned_id)


def delete_canned(db: Db, canned_id: str) -> None:
    if not db.sql("DELETE FROM canned_responses WHERE id = ?", (canned_id,)).rowcount:
        raise NotFound(f"no canned response {canned_id!r}", field="cannedResponseId")


def list_canned(
    db: Db, *, query: str = "", language: str | None = None, limit: int = 100
) -> list[CannedResponse]:
    """Canned responses by shortcut; ``query`` matches a shortcut prefix or any part of the text."""
    where, params = ["1 = 1"], []
    if query:
        like = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        prefix = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(shortcut LIKE ? ESCAPE '\\' OR LOWER(text) LIKE ? ESCAPE '\\')")
        params += [prefix, like]
    if language is not None:
        where.append("language IN (?, ?)")
        params += [language, ANY_LANGUAGE]
    rows = fetch_dicts(
        db,
        f"SELECT * FROM canned_responses WHERE {' AND '.join(where)} ORDER BY shortcut, language LIMIT ?",
        (*params, limit),
    )
    return [_canned(db, row) for row in rows]


# -- notifications ---------------------------------------------------------------------------


def _notification(db: Db, row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        actor_id=row["actor_id"],
        data=from_db_json(db, row["data"]) or {},
        created_at=from_db_time(db, row["created_at"]),  # type: ignore[arg-type]
        read_at=from_db_time(db, row["read_at"]),
    )


def add_notification(
    db: Db,
    *,
    user_id: str,
    kind: str,
    dedupe_key: str,
    conversation_id: str | None = None,
    message_id: str | None = None,
    actor_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[Notification, bool]:
    """Store a notification once per ``dedupe_key``; return it and whether it is new."""
    existing = fetch_one(db, "SELECT * FROM notifications WHERE dedupe_key = ?", (dedupe_key,))
    if existing is not None:
        return _notification(db, existing), False
    notification_id = uuid.uuid4().hex
    db.sql(
        "INSERT INTO notifications (id, user_id, kind, conversation_id, message_id, actor_id, data,"
        " dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            notification_id,
            user_id,
            kind,
            conversation_id,
            message_id,
            actor_id,
            to_db_json(db, data or {}),
            dedupe_key,
            to_db_time(db, utcnow()),
        ),
    )
    row = fetch_one(db, "SELECT * FROM notifications WHERE id = ?", (notification_id,))
    assert row is not None
    return _notification(db, row), True


def list_notifications(
    db: Db, user_id: str, *, unread_only: bool = False, limit: int = 50
) -> tuple[list[Notification], int]:
    """The user's newest notifications and how many are unread."""
    where = "user_id = ? AND read_at IS NULL" if unread_only else "user_id = ?"
    rows = fetch_dicts(
        db,
        f"SELECT * FROM notifications WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
        (user_id, limit),
    )
    (unread,) = db.sql(
        "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL", (user_id,)
    ).fetchone()
    return [_notification(db, row) for row in rows], int(unread)


def mark_read(db: Db, user_id: str, ids: Sequence[str] | None) -> int:
    """Mark the user's notifications ``ids`` (``None``: all of them) as read; return how many changed."""
    now = to_db_time(db, utcnow())
    if ids is None:
        cursor = db.sql(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL", (now, user_id)
        )
        return int(cursor.rowcount)
    changed = 0
    for notification_id in ids:
        changed += db.sql(
            "UPDATE notifications SET read_at = ? WHERE id = ? AND user_id = ? AND read_at IS NULL",
            (now, notification_id, user_id),
        ).rowcount
    return changed
