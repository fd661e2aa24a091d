"""Unread counts: the messages after a participant's read mark that someone else wrote."""

from __future__ import annotations

import attrs

from qandu.storage.models import Db


@attrs.frozen
class Unread:
    """How far one participant has read one conversation, and what is left."""

    conversation_id: str
    read_seq: int
    last_seq: int
    count: int

    def to_wire(self) -> dict[str, object]:
        return {
            "conversationId": self.conversation_id,
            "readSeq": self.read_seq,
            "lastSeq": self.last_seq,
            "unread": self.count,
        }


def unread_counts(db: Db, user_id: str, *, include_private: bool, limit: int) -> list[Unread]:
    """The conversations ``user_id`` takes part in (not archived) with unread messages, newest first.

    A message is unread when its seq is above the user's read mark and it is someone else's:
    not the user's own, not a system notice, not deleted, and (unless ``include_private``, for
    staff) not a private note.
    """
    private = "" if include_private else "AND NOT m.private "
    rows = db.sql(
        "SELECT c.id, COALESCE(r.read_seq, 0), c.last_seq, COUNT(m.id) "
        "FROM participants p "
        "JOIN conversations c ON c.id = p.conversation_id "
        "LEFT JOIN receipts r ON r.conversation_id = p.conversation_id AND r.user_id = p.user_id "
        "JOIN messages m ON m.conversation_id = p.conversation_id AND m.seq > COALESCE(r.read_seq, 0) "
        "WHERE p.user_id = ? AND p.left_at IS NULL AND c.status <> 'archived' "
        "AND m.sender_id <> ? AND m.sender_type <> 'system' AND m.deleted_at IS NULL "
        f"{private}"
        "GROUP BY c.id, r.read_seq, c.last_seq, c.last_message_at "
        "ORDER BY c.last_message_at DESC, c.id DESC LIMIT ?",
        (user_id, user_id, limit),
    ).fetchall()
    return [Unread(cid, int(read), int(last), int(count)) for cid, read, last, count in rows]
