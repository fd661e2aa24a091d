"""Full-text search over message text: SQLite FTS5 or PostgreSQL ``tsvector`` (GIN-indexed).

A query is split into words; a message matches when it contains every word as a word or
a word prefix (``refund`` finds "refunds", "refunded").  Results are newest first, paged by
keyset on (``created_at``, ``id``).
"""

from __future__ import annotations

import datetime as dt
import re

from qandu.domain import Message
from qandu.errors import InvalidRequest
from qandu.storage import messages as msgs
from qandu.storage.columns import to_db_time
from qandu.storage.fields import to_utc
from qandu.storage.models import Db

MAX_WORDS = 16
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, as both tokenizers see words


def words(query: str) -> list[str]:
    """The search words of ``query`` (lower case; ``InvalidRequest`` if there are none)."""
    found = [word.lower() for word in _WORD.findall(query)][:MAX_WORDS]
    if not found:
        raise InvalidRequest("q: give at least one word to search for", field="q")
    return found


def search_cursor(message: Message) -> str:
    return f"{message.timestamp.isoformat()}|{message.id}"


def _parse_cursor(before: str) -> tuple[dt.datetime, str]:
    try:
        stamp, message_id = before.rsplit("|", 1)
        return to_utc(dt.datetime.fromisoformat(stamp)), message_id
    except ValueError:
        raise InvalidRequest(f"invalid cursor {before!r}", field="before") from None


def search_messages(
    db: Db,
    query: str,
    *,
    participant_id: str | None = None,
    conversation_id: str | None = None,
    include_private: bool = False,
    limit: int = 50,
    before: str | None = None,
) -> list[Message]:
    """Messages matching every word of ``query``, newest first.

    :param participant_id: Only conversations this user currently takes part in (customers).
    :param include_private: Include agents' private notes (staff only).
    """
    terms = words(query)
    t = db.messages
    columns = ", ".join(f'm."{field.column_name}"' for field in t.fields)
    where: list[str] = ["m.deleted_at IS NULL"]
    params: list[object] = []
    if db.is_postgresql:
        source = "messages m"
        where.append("m.search @@ to_tsquery('simple', ?)")
        params.append(" & ".join(f"'{term}':*" for term in terms))
    else:
        source = (
            "messages_fts f JOIN message_search_ids s ON s.id = f.rowid"
            " JOIN messages m ON m.id = s.message_id"
        )
        where.append("messages_fts MATCH ?")
        params.append(" ".join(f'"{term}"*' for term in terms))
    if not include_private:
        where.append("NOT m.private")
    if conversation_id is not None:
        where.append("m.conversation_id = ?")
        params.append(conversation_id)
    if participant_id is not None:
        where.append(
            "m.conversation_id IN (SELECT conversation_id FROM participants"
            " WHERE user_id = ? AND left_at IS NULL)"
        )
        params.append(participant_id)
    if before is not None:
        stamp, last_id = _parse_cursor(before)
        where.append("(m.created_at < ? OR (m.created_at = ? AND m.id < ?))")
        params += [to_db_time(db, stamp), to_db_time(db, stamp), last_id]
    sql = (
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)}"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
    )
    rows = t.decode_all(db.sql(sql, (*params, limit)))
    by_conversation: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_conversation.setdefault(row["conversation"], []).append(row)  # type: ignore[arg-type]
    found = {
        message.id: message for group in by_conversation.values() for message in msgs._messages(db, group)
    }
    return [found[row["id"]] for row in rows]
