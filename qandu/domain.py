"""Domain types shared by storage, gateway, HTTP API and plugins.

Field names and enum values follow the product document; ``to_wire`` renders the
camelCase JSON the clients see.  Every type is frozen: plugins get values, not handles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

SenderType = Literal["user", "agent", "system", "ai"]
ContentType = Literal["text", "file", "image", "action"]
MessageStatus = Literal["sent", "delivered", "read"]
ConversationStatus = Literal["active", "pending", "resolved", "archived"]
Priority = Literal["low", "medium", "high"]
ParticipantType = Literal["user", "agent", "ai"]
Role = Literal["customer", "support", "admin", "ai"]
AttachmentType = Literal["image", "document", "audio", "video"]

SENDER_TYPES: tuple[str, ...] = ("user", "agent", "system", "ai")
CONTENT_TYPES: tuple[str, ...] = ("text", "file", "image", "action")
MESSAGE_STATUSES: tuple[str, ...] = ("sent", "delivered", "read")
CONVERSATION_STATUSES: tuple[str, ...] = ("active", "pending", "resolved", "archived")
PRIORITIES: tuple[str, ...] = ("low", "medium", "high")
ROLES: tuple[str, ...] = ("customer", "support", "admin", "ai")
ATTACHMENT_TYPES: tuple[str, ...] = ("image", "document", "audio", "video")


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware UTC, millisecond precision."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(value: dt.datetime | None) -> str | None:
    """Render a datetime as ISO 8601 UTC with a ``Z`` suffix (``None`` stays ``None``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


@attrs.frozen
class Sender:
    """Who wrote a message."""

    id: str
    type: SenderType
    name: str
    avatar: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return _drop_none({"id": self.id, "type": self.type, "name": self.name, "avatar": self.avatar})


@attrs.frozen
class Content:
    """What a message says: text, a file, an image or an action."""

    type: ContentType = "text"
    text: str | None = None
    file_url: str | None = None
    metadata: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {"type": self.type, "text": self.text, "fileUrl": self.file_url, "metadata": self.metadata}
        )


@attrs.frozen
class Attachment:
    """A file attached to a message."""

    id: str
    type: AttachmentType
    url: str
    name: str
    size: int
    mime_type: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "url": self.url,
            "name": self.name,
            "size": self.size,
            "mimeType": self.mime_type,
        }


@attrs.frozen
class Reaction:
    """One person's emoji on a message."""

    emoji: str
    user_id: str
    timestamp: dt.datetime

    def to_wire(self) -> dict[str, Any]:
        return {"emoji": self.emoji, "userId": self.user_id, "timestamp": iso(self.timestamp)}


@attrs.frozen
class Message:
    """A stored chat message (``ChatMessage`` of the product document).

    ``seq`` is the conversation's sequence number (1, 2, 3, ...) assigned when the
    message is committed; ``client_msg_id`` is the sender's idempotency key.
    """

    id: str
    conversation_id: str
    seq: int
    sender: Sender
    content: Content
    timestamp: dt.datetime
    status: MessageStatus = "sent"
    client_msg_id: str | None = None
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    private: bool = False
    edited_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None
    annotations: dict[str, Any] | None = None
    """What the analysers found (intent, entities, sentiment...); loaded for staff only."""

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "conversationId": self.conversation_id,
            "seq": self.seq,
            "sender": self.sender.to_wire(),
            "content": self.content.to_wire(),
            "timestamp": iso(self.timestamp),
            "status": self.status,
        }
        if self.client_msg_id is not None:
            data["clientMsgId"] = self.client_msg_id
        if self.reply_to is not None:
            data["replyTo"] = self.reply_to
        if self.attachments:
            data["attachments"] = [a.to_wire() for a in self.attachments]
        if self.reactions:
            data["reactions"] = [r.to_wire() for r in self.reactions]
        if self.private:
            data["private"] = True
        if self.edited_at is not None:
            data["editedAt"] = iso(self.edited_at)
        if self.deleted_at is not None:
            data["deletedAt"] = iso(self.deleted_at)
        if self.annotations is not None:
            data["annotations"] = self.annotations
        return data


@attrs.frozen
class Participant:
    """A member of a conversation."""

    id: str
    type: ParticipantType
    role: Role
    joined_at: dt.datetime
    name: str = ""
    left_at: dt.datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "type": self.type,
                "role": self.role,
                "name": self.name,
                "joinedAt": iso(self.joined_at),
                "leftAt": iso(self.left_at),
            }
        )


@attrs.frozen
class Conversation:
    """A conversation (``ChatConversation`` of the product document).

    ``bot`` names the bot that serves it; ``assignee_id`` is the agent who owns it
    (``None`` while the bot or the queue has it); ``last_seq`` is the newest message's seq.
    """

    id: str
    status: ConversationStatus
    priority: Priority
    started_at: dt.datetime
    last_message_at: dt.datetime
    source: str = "api"
    participants: tuple[Participant, ...] = ()
    tags: tuple[str, ...] = ()
    context: dict[str, Any] | None = None
    custom_fields: dict[str, Any] | None = None
    bot: str | None = None
    assignee_id: str | None = None
    last_seq: int = 0
    # -- routing (issue 4): why the priority, which team, queue entry, SLA clocks --
    priority_reason: str | None = None
    team_id: str | None = None
    queued_at: dt.datetime | None = None
    first_response_at: dt.datetime | None = None
    first_response_due: dt.datetime | None = None
    next_response_due: dt.datetime | None = None
    first_response_breached: bool = False
    next_response_breached: bool = False

    def routing_wire(self) -> dict[str, Any]:
        """The routing fields of :meth:`to_wire` (only those that are set)."""
        data: dict[str, Any] = _drop_none(
            {
                "priorityReason": self.priority_reason,
                "teamId": self.team_id,
                "queuedAt": iso(self.queued_at),
            }
        )
        sla = _drop_none(
            {
                "firstResponseAt": iso(self.first_response_at),
                "firstResponseDue": iso(self.first_response_due),
                "nextResponseDue": iso(self.next_response_due),
            }
        )
        if self.first_response_breached:
            sla["firstResponseBreached"] = True
        if self.next_response_breached:
            sla["nextResponseBreached"] = True
        if sla:
            data["sla"] = sla
        return data

    def to_wire(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"source": self.source}
        if self.context is not None:
            metadata["context"] = self.context
        if self.custom_fields is not None:
            metadata["customFields"] = self.custom_fields
        return {
            "id": self.id,
            "participants": [p.to_wire() for p in self.participants],
            "status": self.status,
            "priority": self.priority,
            "tags": list(self.tags),
            "startedAt": iso(self.started_at),
            "lastMessageAt": iso(self.last_message_at),
            "metadata": metadata,
            "bot": self.bot,
            "assigneeId": self.assignee_id,
            "lastSeq": self.last_seq,
            **self.routing_wire(),
        }

    def is_participant(self, user_id: str) -> bool:
        """Return True if ``user_id`` is a current (not departed) participant."""
        return any(p.id == user_id and p.left_at is None for p in self.participants)


@attrs.frozen
class User:
    """An identity: a customer, an agent, an admin or a bot.

    ``kind`` is the sender/participant type (user/agent/ai); ``role`` is what it may do.
    """

    id: str
    kind: ParticipantType
    role: Role
    name: str
    email: str | None = None
    external_id: str | None = None
    avatar: str | None = None

    @property
    def is_staff(self) -> bool:
        """Agents and admins see conversations beyond their own."""
        return self.role in ("support", "admin")

    def as_sender(self) -> Sender:
        return Sender(id=self.id, type=self.kind, name=self.name, avatar=self.avatar)

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "type": self.kind,
                "role": self.role,
                "name": self.name,
                "email": self.email,
                "avatar": self.avatar,
            }
        )


@attrs.frozen
class StatusChange:
    """One transition of a conversation's status, kept as history."""

    conversation_id: str
    from_status: ConversationStatus
    to_status: ConversationStatus
    by: str | None
    reason: str | None
    at: dt.datetime

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "from": self.from_status,
                "to": self.to_status,
                "by": self.by,
                "reason": self.reason,
                "at": iso(self.at),
            }
        )


@attrs.frozen
class Receipt:
    """A participant's delivered/read high-water mark in a conversation."""

    conversation_id: str
    user_id: str
    delivered_seq: int = 0
    read_seq: int = 0
