"""Delivered/read receipts: one monotonic high-water mark per (conversation, participant)."""

from __future__ import annotations

from typing import Literal

from qandu.domain import Receipt
from qandu.errors import InvalidRequest, NotFound
from qandu.storage.convert import receipt_from_row
from qandu.storage.models import Db

ReceiptStatus = Literal["delivered", "read"]


def load_receipts(db: Db, conversation_id: str) -> list[Receipt]:
    t = db.receipts
    rows = db.database.execute_sql(t.where("conversation_id = ? ORDER BY user_id"), (conversation_id,))
    return [receipt_from_row(row) for row in t.decode_all(rows)]


def _last_seq(db: Db, conversation_id: str) -> int:
    c = db.m.Conversation
    row = c.select(c.last_seq).where(c.id == conversation_id).tuples().first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id!r}", field="conversation_id")
    return row[0]


def _locked_marks(db: Db, conversation_id: str, user_id: str) -> tuple[int, int]:
    """Return (delivered_seq, read_seq), creating the row at zero; locked on PostgreSQL."""
    r = db.m.Receipt
    where = (r.conversation == conversation_id) & (r.user_id == user_id)
    query = r.select(r.delivered_seq, r.read_seq).where(where)
    if db.is_postgresql:
        query = query.for_update()
    marks = query.tuples().first()
    if marks is None:
        zero = {"conversation": conversation_id, "user_id": user_id, "delivered_seq": 0, "read_seq": 0}
        r.insert(**zero).on_conflict_ignore().execute()  # ignored if another node just did it
        marks = query.tuples().first()
    return marks


def record_receipt(
    db: Db, conversation_id: str, *, user_id: str, status: ReceiptStatus, seq: int
) -> tuple[Receipt, bool]:
    """Raise ``user_id``'s mark to ``seq`` (clamped to the conversation's last seq).

    Marks never go down; ``read`` implies ``delivered``.  The flag says whether anything moved.
    """
    if status not in ("delivered", "read"):
        raise InvalidRequest(f"unknown receipt status {status!r}", field="status")
    seq = max(0, min(int(seq), _last_seq(db, conversation_id)))
    delivered, read = _locked_marks(db, conversation_id, user_id)
    new_read = max(read, seq) if status == "read" else read
    new_delivered = max(delivered, seq, new_read)
    changed = (new_delivered, new_read) != (delivered, read)
    if changed:
        r = db.m.Receipt
        r.update(delivered_seq=new_delivered, read_seq=new_read).where(
            (r.conversation == conversation_id) & (r.user_id == user_id)
        ).execute()
    receipt = Receipt(
        conversation_id=conversation_id, user_id=user_id, delivered_seq=new_delivered, read_seq=new_read
    )
    return receipt, changed
