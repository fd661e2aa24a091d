"""Value types of teamwork and conversation lifecycle: canned responses, notifications, CSAT, follow-ups."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

import attrs

from qandu.domain import iso
from qandu.errors import InvalidRequest

FollowupKind = Literal["message", "reminder"]
FollowupStatus = Literal["scheduled", "firing", "done", "cancelled", "failed"]
NotificationKind = Literal["mention", "reminder"]

MAX_TAG_CHARS = 64
#: A tag: lower-case letters, digits and ``_ - . : /``, starting with a letter or digit.
TAG_PATTERN = re.compile(r"[^\W_][\w.:/-]*")


def normalize_tag(raw: str, field: str = "tags") -> str:
    """Return the canonical form of a tag (trimmed, lower case, inner spaces as ``-``).

    Raises :class:`InvalidRequest` naming ``field`` if it is empty, too long or has other characters.
    """
    tag = "-".join(raw.strip().lower().split())
    if not tag:
        raise InvalidRequest(f"{field}: a tag must not be empty", field=field)
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidRequest(f"{field}: a tag has at most {MAX_TAG_CHARS} characters", field=field)
    if not TAG_PATTERN.fullmatch(tag):
        raise InvalidRequest(
            f"{field}: {raw!r} is not a tag (letters, digits and _ - . : / only, starting with a"
            " letter or digit)",
            field=field,
        )
    return tag


@attrs.frozen
class CannedResponse:
    """A reply agents insert by its shortcut (``/refund``); ``language`` ``None`` fits every language."""

    id: str
    shortcut: str
    text: str
    language: str | None
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shortcut": self.shortcut,
            "text": self.text,
            "language": self.language,
            "createdBy": self.created_by,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@attrs.frozen
class Notification:
    """Something for one agent: a ``mention`` in a private note or a follow-up ``reminder``."""

    id: str
    user_id: str
    kind: NotificationKind
    conversation_id: str | None
    message_id: str | None
    actor_id: str | None
    data: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "conversationId": self.conversation_id,
            "messageId": self.message_id,
            "actorId": self.actor_id,
            "data": self.data,
            "createdAt": iso(self.created_at),
            "readAt": iso(self.read_at),
        }


@attrs.frozen
class CsatSurvey:
    """The satisfaction survey sent when a conversation was resolved, and its answer."""

    id: str
    conversation_id: str
    message_id: str | None
    agent_id: str | None
    team_id: str | None
    sent_at: dt.datetime
    rating: int | None = None
    comment: str | None = None
    answered_by: str | None = None
    answered_at: dt.datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "messageId": self.message_id,
            "agentId": self.agent_id,
            "teamId": self.team_id,
            "sentAt": iso(self.sent_at),
            "rating": self.rating,
            "comment": self.comment,
            "answeredAt": iso(self.answered_at),
        }


@attrs.frozen
class Followup:
    """A message or reminder an agent scheduled for later; fired once by the scheduler."""

    id: str
    conversation_id: str
    kind: FollowupKind
    text: str | None
    due_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    status: FollowupStatus
    attempts: int = 0
    fired_at: dt.datetime | None = None
    message_id: str | None = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "kind": self.kind,
            "text": self.text,
            "at": iso(self.due_at),
            "createdBy": self.created_by,
            "createdAt": iso(self.created_at),
            "status": self.status,
            "firedAt": iso(self.fired_at),
            "messageId": self.message_id,
            "error": self.error,
        }
