"""Message annotations (intent, entities, sentiment, language...) kept beside the messages.

One row per analysed message in ``message_annotations`` (migration
``_message_annotations``): written once the post-store pipeline has analysed the message,
read only for staff (customers never see annotations).  A table of its own keeps the
messages' hot path (append, customer history) untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from qandu.domain import Message, utcnow
from qandu.storage.fields import JSONField, UtcDateTimeField
from qandu.storage.models import Db


def _fields(db: Db) -> tuple[JSONField, UtcDateTimeField]:
    as_text = not db.is_postgresql
    return JSONField(as_text=as_text), UtcDateTimeField(as_text=as_text)


def save_annotations(db: Db, message_id: str, annotations: dict[str, Any]) -> None:
    """Store (or replace) the annotations of ``message_id``."""
    json_field, ts_field = _fields(db)
    db.sql(
        "INSERT INTO message_annotations (message_id, annotations, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (message_id) DO UPDATE SET annotations = excluded.annotations,"
        " updated_at = excluded.updated_at",
        (message_id, json_field.db_value(annotations), ts_field.db_value(utcnow())),
    )


def load_annotations(db: Db, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored annotations of ``message_ids`` (messages without any are left out)."""
    if not message_ids:
        return {}
    json_field, _ = _fields(db)
    placeholders = ", ".join(["?"] * len(message_ids))
    rows = db.sql(
        f"SELECT message_id, annotations FROM message_annotations WHERE message_id IN ({placeholders})",
        tuple(message_ids),
    )
    return {message_id: json_field.python_value(value) for message_id, value in rows}


def delete_annotations(db: Db, message_id: str) -> None:
    """Forget a message's annotations (they quote its text: entities, for example)."""
    db.sql("DELETE FROM message_annotations WHERE message_id = ?", (message_id,))


def history_with_annotations(db: Db, conversation_id: str, **page: Any) -> list[Message]:
    """A page of :func:`qandu.storage.messages.history`, each message with its annotations."""
    from qandu.storage.messages import history

    messages = history(db, conversation_id, **page)
    stored = load_annotations(db, [m.id for m in messages])
    return [attrs.evolve(m, annotations=stored[m.id]) if m.id in stored else m for m in messages]
