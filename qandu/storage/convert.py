"""Turn database rows (dicts from ``.dicts()`` queries) into frozen domain objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qandu.domain import (
    Attachment,
    Content,
    Conversation,
    Message,
    MessageStatus,
    Participant,
    Reaction,
    Receipt,
    Sender,
    StatusChange,
    User,
)

Row = Mapping[str, Any]


def user_from_row(row: Row) -> User:
    return User(
        id=row["id"],
        kind=row["kind"],
        role=row["role"],
        name=row["name"],
        email=row["email"],
        external_id=row["external_id"],
        avatar=row["avatar"],
    )


def participant_from_row(row: Row) -> Participant:
    """``row`` joins participants with the user's ``name``."""
    return Participant(
        id=row["user"],
        type=row["type"],
        role=row["role"],
        joined_at=row["joined_at"],
        name=row["name"],
        left_at=row["left_at"],
    )


def conversation_from_row(row: Row, participants: Iterable[Participant] = ()) -> Conversation:
    return Conversation(
        id=row["id"],
        status=row["status"],
        priority=row["priority"],
        started_at=row["started_at"],
        last_message_at=row["last_message_at"],
        source=row["source"],
        participants=tuple(participants),
        tags=tuple(row["tags"]),
        context=row["context"],
        custom_fields=row["custom_fields"],
        bot=row["bot"],
        assignee_id=row["assignee_id"],
        last_seq=row["last_seq"],
        priority_reason=row.get("priority_reason"),
        team_id=row.get("team_id"),
        queued_at=row.get("queued_at"),
        first_response_at=row.get("first_response_at"),
        first_response_due=row.get("first_response_due"),
        next_response_due=row.get("next_response_due"),
        first_response_breached=bool(row.get("first_response_breached")),
        next_response_breached=bool(row.get("next_response_breached")),
    )


def status_change_from_row(row: Row) -> StatusChange:
    return StatusChange(
        conversation_id=row["conversation"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        by=row["changed_by"],
        reason=row["reason"],
        at=row["changed_at"],
    )


def reaction_from_row(row: Row) -> Reaction:
    return Reaction(emoji=row["emoji"], user_id=row["user_id"], timestamp=row["created_at"])


def receipt_from_row(row: Row) -> Receipt:
    return Receipt(
        conversation_id=row["conversation"],
        user_id=row["user_id"],
        delivered_seq=row["delivered_seq"],
        read_seq=row["read_seq"],
    )


def attachment_to_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id,
        "type": attachment.type,
        "url": attachment.url,
        "name": attachment.name,
        "size": attachment.size,
        "mime_type": attachment.mime_type,
    }


def message_status(seq: int, sender_id: str, receipts: Iterable[Receipt]) -> MessageStatus:
    """``read`` if another participant read up to ``seq``, ``delivered`` if one received it."""
    status: MessageStatus = "sent"
    for receipt in receipts:
        if receipt.user_id == sender_id:
            continue
        if receipt.read_seq >= seq:
            return "read"
        if receipt.delivered_seq >= seq:
            status = "delivered"
    return status


def message_from_row(
    row: Row, reactions: Iterable[Reaction] = (), receipts: Iterable[Receipt] = ()
) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation"],
        seq=row["seq"],
        sender=Sender(
            id=row["sender_id"], type=row["sender_type"], name=row["sender_name"], avatar=row["sender_avatar"]
        ),
        content=Content(
            type=row["content_type"], text=row["text"], file_url=row["file_url"], metadata=row["metadata"]
        ),
        timestamp=row["created_at"],
        status=message_status(row["seq"], row["sender_id"], receipts),
        client_msg_id=row["client_msg_id"],
        reply_to=row["reply_to"],
        attachments=tuple(Attachment(**item) for item in row["attachments"]),
        reactions=tuple(reactions),
        private=bool(row["private"]),
        edited_at=row["edited_at"],
        deleted_at=row["deleted_at"],
    )
