"""Message operations: idempotent append with per-conversation seq, edit, delete, history, reactions."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import peewee

from qandu.domain import Message, Reaction, utcnow
from qandu.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qandu.storage.annotations import delete_annotations
from qandu.storage.convert import attachment_to_json, message_from_row, reaction_from_row
from qandu.storage.drafts import MessageDraft
from qandu.storage.models import Db
from qandu.storage.receipts import load_receipts

#: ``history`` returns at most this many messages per page.
MAX_PAGE = 500

#: Takes the next seq and locks the conversation row until commit (safe across PostgreSQL nodes).
_NEXT_SEQ = (
    "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?, updated_at = ?"
    " WHERE id = ? RETURNING last_seq"
)


def _reactions_of(db: Db, message_ids: Sequence[str]) -> dict[str, list[Reaction]]:
    t = db.reactions
    condition = f"message_id IN {t.in_list(len(message_ids))} ORDER BY created_at, id"
    grouped: dict[str, list[Reaction]] = defaultdict(list)
    for row in t.decode_all(db.database.execute_sql(t.where(condition), tuple(message_ids))):
        grouped[row["message"]].append(reaction_from_row(row))
    return grouped


def _messages(db: Db, rows: Sequence[dict[str, Any]]) -> list[Message]:
    """Build full messages for rows of one conversation: reactions and receipts in one query each."""
    if not rows:
        return []
    reactions = _reactions_of(db, [row["id"] for row in rows])
    receipts = load_receipts(db, rows[0]["conversation"])
    return [message_from_row(row, reactions.get(row["id"], ()), receipts) for row in rows]


def _message_row(db: Db, message_id: str) -> dict[str, Any] | None:
    t = db.messages
    values = db.database.execute_sql(t.where("id = ?"), (message_id,)).fetchone()
    return None if values is None else t.decode(values)


def get_message(db: Db, message_id: str) -> Message | None:
    row = _message_row(db, message_id)
    return None if row is None else _messages(db, [row])[0]


def _require_row(db: Db, message_id: str) -> dict[str, Any]:
    row = _message_row(db, message_id)
    if row is None:
        raise NotFound(f"no message {message_id!r}", field="message_id")
    return row


def _find_duplicate(db: Db, draft: MessageDraft) -> dict[str, Any] | None:
    t = db.messages
    sql = t.where("conversation_id = ? AND sender_id = ? AND client_msg_id = ?")
    key = (draft.conversation_id, draft.sender.id, draft.client_msg_id)
    values = db.database.execute_sql(sql, key).fetchone()
    return None if values is None else t.decode(values)


def _new_row(db: Db, draft: MessageDraft) -> dict[str, Any]:
    """Take the conversation's next seq (locking its row) and insert the message."""
    now = utcnow()
    stamp = db.m.Conversation.last_message_at.db_value(now)
    result = db.sql(_NEXT_SEQ, (stamp, stamp, draft.conversation_id)).fetchone()
    if result is None:
        raise NotFound(f"no conversation {draft.conversation_id!r}", field="conversation_id")
    content = draft.content
    row = {
        "id": uuid.uuid4().hex,
        "conversation": draft.conversation_id,
        "seq": result[0],
        "client_msg_id": draft.client_msg_id,
        "sender_id": draft.sender.id,
        "sender_type": draft.sender.type,
        "sender_name": draft.sender.name,
        "sender_avatar": draft.sender.avatar,
        "content_type": content.type,
        "text": content.text,
        "file_url": content.file_url,
        "metadata": content.metadata,
        "reply_to": draft.reply_to,
        "attachments": [attachment_to_json(a) for a in draft.attachments],
        "private": draft.private,
        "created_at": now,
        "edited_at": None,
        "deleted_at": None,
    }
    try:
        db.database.execute_sql(db.messages.insert, db.messages.encode(row))
    except peewee.IntegrityError as exc:
        # PostgreSQL with several nodes: another node committed the same client_msg_id after
        # our check.  The writer replays the batch, and the replayed check finds that message.
        raise Conflict("the message was stored concurrently", field="client_msg_id") from exc
    return row


def append_message(db: Db, draft: MessageDraft) -> tuple[Message, bool]:
    """Store ``draft`` with the next seq, or return the stored twin of a repeated ``client_msg_id``.

    :returns: the message and whether it was created now.
    """
    if draft.client_msg_id is not None:
        duplicate = _find_duplicate(db, draft)
        if duplicate is not None:
            return _messages(db, [duplicate])[0], False
    return message_from_row(_new_row(db, draft)), True


def append_messages(db: Db, drafts: Sequence[MessageDraft]) -> list[tuple[Message, bool]]:
    return [append_message(db, draft) for draft in drafts]


def edit_message(db: Db, message_id: str, *, text: str, editor_id: str) -> Message:
    """Replace the text; only the sender may, and not once deleted."""
    row = _require_row(db, message_id)
    if row["sender_id"] != editor_id:
        raise Forbidden("only the sender may edit a message")
    if row["deleted_at"] is not None:
        raise Conflict("the message was deleted", field="message_id")
    m = db.m.Message
    m.update(text=text, edited_at=utcnow()).where(m.id == message_id).execute()
    return _messages(db, [_require_row(db, message_id)])[0]


def delete_message(db: Db, message_id: str, *, by_id: str, allow_any: bool = False) -> Message:
    """Soft delete: clear text, file, metadata, attachments, annotations; set ``deleted_at``; idempotent."""
    row = _require_row(db, message_id)
    if row["sender_id"] != by_id and not allow_any:
        raise Forbidden("only the sender may delete a message")
    if row["deleted_at"] is None:
        m = db.m.Message
        m.update(text=None, file_url=None, metadata=None, attachments=[], deleted_at=utcnow()).where(
            m.id == message_id
        ).execute()
        delete_annotations(db, message_id)
        row = _require_row(db, message_id)
    return _messages(db, [row])[0]


def history(
    db: Db,
    conversation_id: str,
    *,
    before_seq: int | None = None,
    after_seq: int | None = None,
    limit: int = 50,
    include_private: bool = True,
) -> list[Message]:
    """A page of messages in ascending seq, by keyset on (conversation, seq).

    With ``after_seq``: the oldest ``limit`` messages after it.  Otherwise the newest
    ``limit`` before ``before_seq`` (or the newest overall).  Both bound a range.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    condition, params = ["conversation_id = ?"], [conversation_id]
    if before_seq is not None:
        condition.append("seq < ?")
        params.append(before_seq)
    if after_seq is not None:
        condition.append("seq > ?")
        params.append(after_seq)
    if not include_private:
        condition.append("NOT private")
    order = "seq" if after_seq is not None else "seq DESC"
    t = db.messages
    sql = t.where(f"{' AND '.join(condition)} ORDER BY {order} LIMIT ?")
    rows = t.decode_all(db.database.execute_sql(sql, (*params, limit)))
    if after_seq is None:
        rows.reverse()
    return _messages(db, rows)


def _live_message(db: Db, message_id: str) -> dict[str, Any]:
    row = _require_row(db, message_id)
    if row["deleted_at"] is not None:
        raise Conflict("the message was deleted", field="message_id")
    return row


def add_reaction(db: Db, message_id: str, *, user_id: str, emoji: str) -> tuple[Message, Reaction, bool]:
    """Add ``emoji`` from ``user_id``; the flag is False if it was already there."""
    row = _live_message(db, message_id)
    r = db.m.Reaction
    now = utcnow()
    added = r.insert(message=message_id, user_id=user_id, emoji=emoji, created_at=now)
    changed = bool(added.on_conflict_ignore().as_rowcount().execute())
    message = _messages(db, [row])[0]
    reaction = next(x for x in message.reactions if x.user_id == user_id and x.emoji == emoji)
    return message, reaction, changed


def remove_reaction(db: Db, message_id: str, *, user_id: str, emoji: str) -> tuple[Message, bool]:
    row = _require_row(db, message_id)
    r = db.m.Reaction
    where = (r.message == message_id) & (r.user_id == user_id) & (r.emoji == emoji)
    changed = bool(r.delete().where(where).execute())
    return _messages(db, [row])[0], changed
