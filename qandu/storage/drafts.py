"""Inputs to the store that are not domain types: message drafts and the ``UNSET`` marker."""

from __future__ import annotations

import enum

import attrs

from qandu.domain import Attachment, Content, Sender


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Marks an argument of ``update_conversation`` that was not given (``None`` is a real value).
UNSET = _Unset.UNSET
Unset = _Unset


@attrs.frozen
class MessageDraft:
    """A message to store: everything but the id, seq and timestamp the store assigns.

    ``client_msg_id`` is the sender's idempotency key: the same (conversation, sender,
    client_msg_id) is stored once.
    """

    conversation_id: str
    sender: Sender
    content: Content
    client_msg_id: str | None = None
    reply_to: str | None = None
    attachments: tuple[Attachment, ...] = attrs.field(default=(), converter=tuple)
    private: bool = False
