"""The gateway's wire protocol, sans-IO: JSON text frames in, attrs frames out, and back.

Nothing here touches a socket.  Client frames are validated against
:data:`qandu.schemas.CLIENT_FRAME_SCHEMAS`; ``docs/protocol.md`` is the reference for clients.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Literal

import attrs
import orjson

from qandu.domain import Content, Conversation, Message, Reaction, Sender, User, iso
from qandu.schemas import (
    CLIENT_FRAME_SCHEMAS,
    MAX_ID_CHARS,
    Validator,
    compile_check,
    describe,
    find_problem,
)

#: Largest client frame accepted by default, in bytes of UTF-8.
MAX_FRAME_BYTES = 65536

FrameErrorCode = Literal["invalid_json", "invalid_frame", "unknown_type", "too_large"]

#: Every ``code`` an ``error`` frame may carry.
ERROR_CODES: tuple[str, ...] = (
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "too_large",
    "invalid_request",
    "rejected",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "invalid_transition",
    "rate_limited",
    "internal",
)


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down: reconnect elsewhere/later and resume
    TOO_BIG = 1009  # a frame exceeded the size limit
    UNAUTHORIZED = 4001  # token expired or invalid
    SLOW_CONSUMER = 4008  # the send queue overflowed: reconnect and resume
    HEARTBEAT_TIMEOUT = 4009  # no pong in time


class FrameError(Exception):
    """A client frame that cannot be accepted.

    :ivar code: ``invalid_json``, ``invalid_frame``, ``unknown_type`` or ``too_large``.
    :ivar message: What is wrong, prefixed with the field: ``"content.text: must not be blank"``.
    :ivar field: Dotted path of the offending field, or ``None``.
    :ivar ref: The frame's ``id`` if it could be read, else ``None``.
    """

    def __init__(
        self, code: FrameErrorCode, message: str, *, field: str | None = None, ref: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.ref = ref

    def __repr__(self) -> str:
        return f"FrameError({self.code!r}, {self.message!r}, field={self.field!r}, ref={self.ref!r})"


# --------------------------------------------------------------------------- client frames


@attrs.frozen
class SendMessage:
    """``message.send``: post a message; ``client_msg_id`` makes resends idempotent."""

    TYPE: ClassVar[str] = "message.send"
    conversation_id: str
    client_msg_id: str
    content: Content
    reply_to: str | None = None
    attachments: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    private: bool = False
    ref: str | None = None


@attrs.frozen
class EditMessage:
    """``message.edit``: replace the text of one of your messages."""

    TYPE: ClassVar[str] = "message.edit"
    message_id: str
    text: str
    ref: str | None = None


@attrs.frozen
class DeleteMessage:
    """``message.delete``: delete one of your messages."""

    TYPE: ClassVar[str] = "message.delete"
    message_id: str
    ref: str | None = None


@attrs.frozen
class Typing:
    """``typing``: started or stopped typing (ephemeral)."""

    TYPE: ClassVar[str] = "typing"
    conversation_id: str
    state: Literal["start", "stop"]
    ref: str | None = None


@attrs.frozen
class SendReceipt:
    """``receipt``: everything up to ``seq`` was delivered or read."""

    TYPE: ClassVar[str] = "receipt"
    conversation_id: str
    status: Literal["delivered", "read"]
    seq: int
    ref: str | None = None


@attrs.frozen
class AddReaction:
    """``reaction.add``: react to a message with one emoji."""

    TYPE: ClassVar[str] = "reaction.add"
    message_id: str
    emoji: str
    ref: str | None = None


@attrs.frozen
class RemoveReaction:
    """``reaction.remove``: take back a reaction."""

    TYPE: ClassVar[str] = "reaction.remove"
    message_id: str
    emoji: str
    ref: str | None = None


@attrs.frozen
class Resume:
    """``resume``: send every message of the conversation with ``seq > after_seq``."""

    TYPE: ClassVar[str] = "resume"
    conversation_id: str
    after_seq: int
    ref: str | None = None


@attrs.frozen
class Subscribe:
    """``subscribe``: watch a conversation live (staff)."""

    TYPE: ClassVar[str] = "subscribe"
    conversation_id: str
    ref: str | None = None


@attrs.frozen
class Unsubscribe:
    """``unsubscribe``: stop watching a conversation."""

    TYPE: ClassVar[str] = "unsubscribe"
    conversation_id: str
    ref: str | None = None


@attrs.frozen
class Ping:
    """``ping``: answered by ``pong``."""

    TYPE: ClassVar[str] = "ping"
    ref: str | None = None


@attrs.frozen
class SetPresence:
    """``presence.set``: an agent sets their availability (online, away, offline)."""

    TYPE: ClassVar[str] = "presence.set"
    status: Literal["online", "away", "offline"]
    ref: str | None = None


@attrs.frozen
class SubmitCsat:
    """``csat.submit``: the customer answers the satisfaction survey (1-5 and a comment)."""

    TYPE: ClassVar[str] = "csat.submit"
    conversation_id: str
    rating: int
    comment: str | None = None
    survey_id: str | None = None
    ref: str | None = None


ClientFrame = (
    SendMessage
    | EditMessage
    | DeleteMessage
    | Typing
    | SendReceipt
    | AddReaction
    | RemoveReaction
    | Resume
    | Subscribe
    | Unsubscribe
    | Ping
    | SetPresence
    | SubmitCsat
)

FRAME_CLASSES: dict[str, type[ClientFrame]] = {
    cls.TYPE: cls
    for cls in (
        SendMessage,
        EditMessage,
        DeleteMessage,
        Typing,
        SendReceipt,
        AddReaction,
        RemoveReaction,
        Resume,
        Subscribe,
        Unsubscribe,
        Ping,
        SetPresence,
        SubmitCsat,
    )
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@attrs.frozen
class _Codec:
    """How one frame class maps to the wire: attribute name -> wire name, and its checks."""

    cls: type[ClientFrame]
    names: tuple[tuple[str, str], ...]  # (attribute, wire name), without ``ref``
    defaults: Mapping[str, Any]
    validator: Any  # a qandu.schemas.Validator: finds the problem
    is_valid: Callable[[Any], bool]  # qandu.schemas.compile_check: the fast yes/no


def _codec(cls: type[ClientFrame]) -> _Codec:
    fields = [f for f in attrs.fields(cls) if f.name != "ref"]
    schema = CLIENT_FRAME_SCHEMAS[cls.TYPE]
    names = tuple((f.name, _camel(f.name)) for f in fields)
    if {wire for _, wire in names} | {"type", "id"} != set(schema["properties"]):
        raise RuntimeError(f"{cls.__name__} does not match the {cls.TYPE} schema")
    defaults = {f.name: f.default for f in fields if f.default is not attrs.NOTHING}
    return _Codec(cls, names, defaults, Validator(schema), compile_check(schema))


_CODECS: dict[str, _Codec] = {frame_type: _codec(cls) for frame_type, cls in FRAME_CLASSES.items()}
_TYPE_LIST = ", ".join(sorted(FRAME_CLASSES))


def content_from_wire(data: Mapping[str, Any]) -> Content:
    """Build a :class:`~qandu.domain.Content` from its (already validated) wire form."""
    return Content(
        type=data["type"], text=data.get("text"), file_url=data.get("fileUrl"), metadata=data.get("metadata")
    )


def _wire_value(value: Any) -> Any:
    if isinstance(value, Content):
        return value.to_wire()
    if isinstance(value, tuple):
        return list(value)
    return value


def _frame_value(value: Any, attribute: str) -> Any:
    if attribute == "content":
        return content_from_wire(value)
    if isinstance(value, float):  # an integer field written as 3.0 (validated: integral, bounded)
        return int(value)
    return value


def _load(data: str | bytes, max_bytes: int) -> Any:
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if isinstance(data, str):
        size = len(data)  # a character is 1 to 4 bytes of UTF-8: encode only when that matters
        if size <= max_bytes < size * 4:
            size = len(data.encode("utf-8", "surrogatepass"))
    elif isinstance(data, bytes):
        size = len(data)
    else:
        raise FrameError("invalid_json", f"a frame must be text, not {type(data).__name__}")
    if size > max_bytes:
        raise FrameError("too_large", f"frame is larger than the maximum of {max_bytes} bytes")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FrameError("invalid_json", f"invalid JSON: {exc}") from None


def _ref(obj: dict[str, Any]) -> str | None:
    ref = obj.get("id")
    return ref if isinstance(ref, str) and 0 < len(ref) <= MAX_ID_CHARS else None


def decode_client_frame(data: str | bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> ClientFrame:
    """Parse and validate one client frame.

    :param data: The text (or UTF-8 bytes) of one WebSocket message.
    :param max_bytes: Frames larger than this many bytes of UTF-8 are ``too_large``.
    :returns: The frame as one of the :data:`ClientFrame` classes.
    :raises FrameError: Whatever is wrong with ``data``; never any other exception.
    """
    obj = _load(data, max_bytes)
    if not isinstance(obj, dict):
        raise FrameError("invalid_frame", f"a frame must be a JSON object, not {describe(obj)}")
    ref = _ref(obj)
    frame_type = obj.get("type")
    codec = _CODECS.get(frame_type) if isinstance(frame_type, str) else None
    if codec is None:
        if "type" not in obj:
            raise FrameError("invalid_frame", "type: required field missing", field="type", ref=ref)
        if not isinstance(frame_type, str):
            message = f"type: expected a string, got {describe(frame_type)}"
            raise FrameError("invalid_frame", message, field="type", ref=ref)
        message = f"type: unknown frame type {describe(frame_type)} (known: {_TYPE_LIST})"
        raise FrameError("unknown_type", message, field="type", ref=ref)
    if not codec.is_valid(obj):
        problem = find_problem(codec.validator, obj)
        if problem is not None:  # always, unless the fast path and jsonschema disagree
            raise FrameError("invalid_frame", problem.message, field=problem.field, ref=ref)
    kwargs = {attr: _frame_value(obj[wire], attr) for attr, wire in codec.names if wire in obj}
    return codec.cls(**kwargs, ref=ref)


def frame_to_wire(frame: ClientFrame) -> dict[str, Any]:
    """Return the wire form (a JSON-able dict) of a client frame; defaults are left out."""
    codec = _CODECS[frame.TYPE]
    data: dict[str, Any] = {"type": frame.TYPE}
    if frame.ref is not None:
        data["id"] = frame.ref
    for attr, wire in codec.names:
        value = getattr(frame, attr)
        if attr in codec.defaults and value == codec.defaults[attr]:
            continue
        data[wire] = _wire_value(value)
    return data


def encode_client_frame(frame: ClientFrame) -> str:
    """Serialise a client frame (no validation: the server validates)."""
    return orjson.dumps(frame_to_wire(frame)).decode()


# --------------------------------------------------------------------------- server frames


def _default(value: Any) -> Any:
    if hasattr(value, "to_wire"):
        return value.to_wire()
    if isinstance(value, dt.datetime):
        return iso(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def server_frame(type: str, **fields: Any) -> bytes:
    """Serialise a server frame ``{"type": type, **fields}``; ``None`` fields are dropped.

    Top-level snake_case names become camelCase (``conversation_id`` -> ``conversationId``);
    domain objects are rendered with ``to_wire()`` and datetimes as ISO 8601 UTC.
    """
    body = {_camel(name): value for name, value in fields.items() if value is not None}
    return orjson.dumps({"type": type, **body}, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def ready_frame(user: User, conversations: Iterable[Conversation], heartbeat: float, version: str) -> bytes:
    """``ready``: sent once after the handshake."""
    return server_frame(
        "ready",
        user=user,
        conversations=list(conversations),
        heartbeat=heartbeat,
        server={"version": version},
    )


def ack_frame(ref: str | None = None, message: Message | None = None) -> bytes:
    """``ack``: the request ``ref`` succeeded (``message``: the stored message, for send/edit/delete)."""
    return server_frame("ack", ref=ref, message=message)


def message_new_frame(message: Message) -> bytes:
    """``message.new``: a message was posted (or is replayed after ``resume``)."""
    return server_frame("message.new", message=message)


def message_updated_frame(message: Message) -> bytes:
    """``message.updated``: a message was edited or its reactions changed."""
    return server_frame("message.updated", message=message)


def message_annotated_frame(
    conversation_id: str, message_id: str, seq: int, annotations: dict[str, Any]
) -> bytes:
    """``message.annotated`` (staff only): the analysers' results for a customer's message."""
    return server_frame(
        "message.annotated",
        conversation_id=conversation_id,
        message_id=message_id,
        seq=seq,
        annotations=annotations,
    )


def message_deleted_frame(conversation_id: str, message_id: str, seq: int) -> bytes:
    """``message.deleted``: a message was deleted."""
    return server_frame("message.deleted", conversation_id=conversation_id, message_id=message_id, seq=seq)


def typing_frame(conversation_id: str, user: User | Sender, state: str) -> bytes:
    """``typing``: someone started or stopped typing."""
    kind = user.kind if isinstance(user, User) else user.type
    who = {"id": user.id, "name": user.name, "type": kind}
    return server_frame("typing", conversation_id=conversation_id, user=who, state=state)


def receipt_frame(conversation_id: str, user_id: str, status: str, seq: int) -> bytes:
    """``receipt``: ``user_id`` has received or read everything up to ``seq``."""
    return server_frame("receipt", conversation_id=conversation_id, user_id=user_id, status=status, seq=seq)


def reaction_frame(
    conversation_id: str, message_id: str, action: Literal["added", "removed"], reaction: Reaction
) -> bytes:
    """``reaction``: a reaction was added or removed."""
    return server_frame(
        "reaction", conversation_id=conversation_id, message_id=message_id, action=action, reaction=reaction
    )


def presence_frame(user_id: str, status: Literal["online", "offline"]) -> bytes:
    """``presence``: a user came online or went offline."""
    return server_frame("presence", user_id=user_id, status=status)


def conversation_updated_frame(conversation: Conversation) -> bytes:
    """``conversation.updated``: status, assignee, tags or participants changed."""
    return server_frame("conversation.updated", conversation=conversation)


def queue_updated_frame(
    total: int,
    *,
    added: Iterable[Conversation] = (),
    updated: Iterable[Conversation] = (),
    removed: Iterable[str] = (),
) -> bytes:
    """``queue.updated`` (staff only): what changed in the queue, and how many wait now.

    ``added`` joined it, ``updated`` are still waiting but changed (priority, team), ``removed``
    are the ids of conversations that left it.  ``GET /api/queue`` has the whole queue.
    """
    return server_frame(
        "queue.updated", total=total, added=list(added), updated=list(updated), removed=list(removed)
    )


def suggestions_frame(conversation_id: str, message_id: str, suggestions: Iterable[Any]) -> bytes:
    """``suggestions`` (staff only): ranked replies for the customer's message ``message_id``.

    ``suggestions`` are :class:`qandu.assist.Suggestion` objects (rendered with ``to_wire``).
    """
    return server_frame(
        "suggestions", conversation_id=conversation_id, message_id=message_id, suggestions=list(suggestions)
    )


def resumed_frame(conversation_id: str, last_seq: int, count: int, ref: str | None = None) -> bytes:
    """``resumed``: the answer to ``resume``: the ``count`` missed messages up to ``last_seq`` were sent."""
    return server_frame("resumed", ref=ref, conversation_id=conversation_id, last_seq=last_seq, count=count)


def resync_frame() -> bytes:
    """``resync``: live frames may have been missed (the nodes' fan-out was interrupted)."""
    return server_frame("resync")


def pong_frame(ref: str | None = None) -> bytes:
    """``pong``: the answer to a ``ping`` frame."""
    return server_frame("pong", ref=ref)


def error_frame(code: str, message: str, *, field: str | None = None, ref: str | None = None) -> bytes:
    """``error``: the request ``ref`` failed (``field``: dotted path of the offending field)."""
    return server_frame("error", code=code, message=message, field=field, ref=ref)


def frame_error_to_frame(exc: FrameError) -> bytes:
    """Render a :class:`FrameError` as an ``error`` frame."""
    return error_frame(exc.code, exc.message, field=exc.field, ref=exc.ref)


def decode_server_frame(data: str | bytes) -> dict[str, Any]:
    """Parse a server frame (client side): a JSON object with a string ``type``.

    :raises FrameError: ``invalid_json`` or ``invalid_frame``.
    """
    obj = _load(data, max_bytes=2**62)
    if not isinstance(obj, dict):
        raise FrameError("invalid_frame", f"a frame must be a JSON object, not {describe(obj)}")
    if not isinstance(obj.get("type"), str):
        raise FrameError("invalid_frame", "type: required string field missing", field="type")
    return obj
