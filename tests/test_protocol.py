"""Property and example tests of the sans-IO gateway codec (``qandu.gateway.protocol``)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qandu import schemas
from qandu.domain import Content, Conversation, Message, Reaction, Sender, User
from qandu.gateway import protocol as p
from tests import strategies as s

FRAME_ERROR_CODES = {"invalid_json", "invalid_frame", "unknown_type", "too_large"}
VALIDATORS = {t: schemas.Validator(schema) for t, schema in schemas.CLIENT_FRAME_SCHEMAS.items()}
CHECKS = {t: schemas.compile_check(schema) for t, schema in schemas.CLIENT_FRAME_SCHEMAS.items()}
# tests/conftest.py picks the profile (example counts); these only relax what our strategies need:
# some filter, and near-valid frames may hold 10 000-character strings.
property_settings = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


def decode_or_error(data: Any, **kwargs: Any) -> p.ClientFrame | p.FrameError:
    """Decode ``data``; return the FrameError instead of raising it, after checking its shape."""
    try:
        return p.decode_client_frame(data, **kwargs)
    except p.FrameError as exc:
        assert exc.code in FRAME_ERROR_CODES
        assert exc.message.strip()
        assert exc.field is None or exc.message.startswith(f"{exc.field}: ")
        assert exc.ref is None or 1 <= len(exc.ref) <= schemas.MAX_ID_CHARS
        wire = p.decode_server_frame(p.frame_error_to_frame(exc))
        assert wire["type"] == "error" and wire["code"] == exc.code and wire["message"] == exc.message
        return exc


def valid_ref(obj: dict[str, Any]) -> str | None:
    ref = obj.get("id")
    return ref if isinstance(ref, str) and 1 <= len(ref) <= 64 else None


# --------------------------------------------------------------------------- round trips


def test_strategies_cover_every_frame_type() -> None:
    assert set(s.FRAME_STRATEGIES) == set(p.FRAME_CLASSES.values())
    assert set(p.FRAME_CLASSES) == set(schemas.CLIENT_FRAME_SCHEMAS)


@property_settings
@given(s.client_frames)
def test_round_trip(frame: p.ClientFrame) -> None:
    text = p.encode_client_frame(frame)
    assert p.decode_client_frame(text) == frame
    assert p.decode_client_frame(text.encode()) == frame
    wire = orjson.loads(text)
    assert wire["type"] == frame.TYPE
    assert CHECKS[frame.TYPE](wire) and schemas.find_problem(VALIDATORS[frame.TYPE], wire) is None


@property_settings
@given(s.FRAME_STRATEGIES[p.SendMessage])
def test_send_message_fields_survive(frame: p.SendMessage) -> None:
    decoded = p.decode_client_frame(p.encode_client_frame(frame))
    assert isinstance(decoded, p.SendMessage)
    assert decoded.content == frame.content and isinstance(decoded.attachments, tuple)


def test_encode_leaves_out_defaults() -> None:
    frame = p.SendMessage("c1", "k1", Content(text="hi"))
    assert orjson.loads(p.encode_client_frame(frame)) == {
        "type": "message.send",
        "conversationId": "c1",
        "clientMsgId": "k1",
        "content": {"type": "text", "text": "hi"},
    }
    full = p.SendMessage(
        "c1", "k1", Content(text="hi"), reply_to="m0", attachments=["a1"], private=True, ref="r"
    )
    assert orjson.loads(p.encode_client_frame(full)) == {
        "type": "message.send",
        "id": "r",
        "conversationId": "c1",
        "clientMsgId": "k1",
        "content": {"type": "text", "text": "hi"},
        "replyTo": "m0",
        "attachments": ["a1"],
        "private": True,
    }
    assert p.encode_client_frame(p.Ping()) == '{"type":"ping"}'


def test_integral_floats_become_ints() -> None:
    frame = p.decode_client_frame('{"type":"receipt","conversationId":"c","seq":2.0,"status":"read"}')
    assert frame == p.SendReceipt("c", "read", 2) and type(frame.seq) is int
    frame = p.decode_client_frame('{"type":"resume","conversationId":"c","afterSeq":0e3}')
    assert frame == p.Resume("c", 0) and type(frame.after_seq) is int


# --------------------------------------------------------------------------- hostile input


@property_settings
@given(st.binary(max_size=300))
@example(b"\xff\xfe")
@example(b"\xed\xa0\x80")  # an encoded lone surrogate
@example(b"")
def test_arbitrary_bytes(data: bytes) -> None:
    decode_or_error(data)


@property_settings
@given(st.text(max_size=300))
@example("\ud800")
@example('{"type": "ping", "id": "\ud800"}')
def test_arbitrary_text(data: str) -> None:
    decode_or_error(data)


@property_settings
@given(s.json_values)
def test_arbitrary_json(value: Any) -> None:
    decode_or_error(orjson.dumps(value))


@property_settings
@given(st.sampled_from(sorted(p.FRAME_CLASSES)), s.json_objects)
def test_known_type_with_arbitrary_fields(frame_type: str, fields: dict[str, Any]) -> None:
    decode_or_error(orjson.dumps({**fields, "type": frame_type}))


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 2000 + b"]" * 2000,
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
        b'{"type":"receipt","conversationId":"c","seq":NaN,"status":"read"}',
        b'{"type":"receipt","conversationId":"c","seq":1e400,"status":"read"}',
        b'{"type":"ping"} trailing',
        b"\x00",
    ],
)
def test_malformed_json(data: bytes) -> None:
    exc = decode_or_error(data)
    assert isinstance(exc, p.FrameError) and exc.code == "invalid_json"
    assert exc.message.startswith("invalid JSON: ")


@pytest.mark.parametrize("data", [None, 42, ["ping"], {"type": "ping"}])
def test_input_that_is_not_text(data: Any) -> None:
    exc = decode_or_error(data)
    assert isinstance(exc, p.FrameError) and exc.code == "invalid_json"


def test_bytearray_and_memoryview() -> None:
    assert p.decode_client_frame(bytearray(b'{"type":"ping"}')) == p.Ping()
    assert p.decode_client_frame(memoryview(b'{"type":"ping","id":"r"}')) == p.Ping(ref="r")


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` + 1 levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [5, 31, 32, 100, 300, 1000, 1100, 5000])
def test_deeply_nested_values(depth: int) -> None:
    """Metadata nests at most 32 levels (orjson reads 1024 levels but writes only 254)."""
    head = {"type": "message.send", "id": "r", "conversationId": "c", "clientMsgId": "k"}
    frame = {**head, "content": {"type": "text", "text": "hi", "metadata": nested(depth)}}
    result = decode_or_error(_dumps_deep(frame))
    if depth < 32:
        assert isinstance(result, p.SendMessage)
        assert p.decode_client_frame(p.encode_client_frame(result)) == result
    elif depth + 3 < 1024:
        assert isinstance(result, p.FrameError) and result.ref == "r"
        assert result.message == "content.metadata: nested more than 32 levels deep"
    else:
        assert isinstance(result, p.FrameError) and result.code == "invalid_json"
    bad_id = {**frame, "content": {"type": "text", "text": "hi"}, "conversationId": nested(depth)}
    result = decode_or_error(_dumps_deep(bad_id))
    assert isinstance(result, p.FrameError)
    if depth + 1 < 1024:
        assert result.message == "conversationId: expected a string, got an object" and result.ref == "r"


def _dumps_deep(value: Any) -> bytes:
    """``orjson.dumps`` stops at 254 levels; the standard library goes deeper."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))
    try:
        return json.dumps(value).encode()
    finally:
        sys.setrecursionlimit(limit)


# --------------------------------------------------------------------------- mutations of valid frames

CONTENT_PROPERTIES = schemas.CONTENT_SCHEMA["properties"]


def field_paths(wire: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every field of a wire frame, including the content's (metadata is free-form)."""
    paths = [(name,) for name in wire]
    if isinstance(wire.get("content"), dict):
        paths += [("content", name) for name in wire["content"]]
    return paths


def field_schema(frame_type: str, path: tuple[str, ...]) -> dict[str, Any]:
    if path[0] == "content" and len(path) == 2:
        return CONTENT_PROPERTIES[path[1]]
    return schemas.CLIENT_FRAME_SCHEMAS[frame_type]["properties"][path[0]]


def is_required(wire: dict[str, Any], path: tuple[str, ...]) -> bool:
    if len(path) == 1:
        return path[0] in schemas.CLIENT_FRAME_SCHEMAS[wire["type"]]["required"]
    return path[1] == "type" or (path[1] == "text" and wire["content"]["type"] == "text")


def json_type_matches(value: Any, json_type: str) -> bool:
    if isinstance(value, bool):
        return json_type == "boolean"
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) or (isinstance(value, float) and value.is_integer()),
        "boolean": False,
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }[json_type]


def set_path(wire: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(wire))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


def remove_path(wire: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(wire))
    target = copy
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return copy


def assert_rejected_at(mutated: dict[str, Any], path: tuple[str, ...]) -> None:
    result = decode_or_error(orjson.dumps(mutated))
    assert isinstance(result, p.FrameError), mutated
    assert (result.code, result.field) == ("invalid_frame", ".".join(path))
    assert result.ref == valid_ref(mutated)


@property_settings
@given(s.client_frames, st.data())
def test_removed_field(frame: p.ClientFrame, data: st.DataObject) -> None:
    wire = p.frame_to_wire(frame)
    path = data.draw(st.sampled_from(field_paths(wire)))
    mutated = remove_path(wire, path)
    if is_required(wire, path):
        assert_rejected_at(mutated, path)
    else:
        assert isinstance(decode_or_error(orjson.dumps(mutated)), type(frame))


@property_settings
@given(s.client_frames, st.data())
def test_field_of_the_wrong_type(frame: p.ClientFrame, data: st.DataObject) -> None:
    wire = p.frame_to_wire(frame)
    path = data.draw(st.sampled_from(field_paths(wire)))
    prop = field_schema(wire["type"], path)
    json_type = prop.get("type", "string")  # enum and const fields hold strings
    value = data.draw(s.json_values.filter(lambda v: not json_type_matches(v, json_type)))
    assert_rejected_at(set_path(wire, path, value), path)


@property_settings
@given(s.client_frames, st.data())
def test_extra_field(frame: p.ClientFrame, data: st.DataObject) -> None:
    wire = p.frame_to_wire(frame)
    where = ("content",) if "content" in wire and data.draw(st.booleans()) else ()
    known = CONTENT_PROPERTIES if where else schemas.CLIENT_FRAME_SCHEMAS[wire["type"]]["properties"]
    name = data.draw(st.text(max_size=12).filter(lambda n: n not in known))
    assert_rejected_at(set_path(wire, (*where, name), data.draw(s.json_values)), (*where, name))


@property_settings
@given(s.client_frames, st.data())
def test_near_valid_frames(frame: p.ClientFrame, data: st.DataObject) -> None:
    """Edge values in any field: decode or a FrameError; the fast path agrees with jsonschema."""
    wire = p.frame_to_wire(frame)
    properties = schemas.CLIENT_FRAME_SCHEMAS[wire["type"]]["properties"]
    candidates = [(name,) for name in properties if name != "type"]
    if "content" in wire:
        candidates += [("content", name) for name in CONTENT_PROPERTIES]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(candidates))
        if len(path) == 2 and not isinstance(wire.get("content"), dict):
            continue  # content itself was replaced by an earlier step
        wire = set_path(wire, path, data.draw(s.edge_values))
    problem = schemas.find_problem(VALIDATORS[wire["type"]], wire)
    assert CHECKS[wire["type"]](wire) == (problem is None)
    result = decode_or_error(orjson.dumps(wire))
    if problem is None:
        assert not isinstance(result, p.FrameError)
    else:
        assert isinstance(result, p.FrameError)
        assert (result.field, result.message) == (problem.field, problem.message)
        assert result.ref == valid_ref(wire)


# --------------------------------------------------------------------------- size limit


@property_settings
@given(s.client_frames, st.integers(0, 100))
def test_too_large(frame: p.ClientFrame, padding: int) -> None:
    text = p.encode_client_frame(frame) + " " * padding
    size = len(text.encode())
    for data in (text, text.encode()):
        assert p.decode_client_frame(data, max_bytes=size) == frame
        exc = decode_or_error(data, max_bytes=size - 1)
        assert isinstance(exc, p.FrameError) and exc.code == "too_large" and exc.field is None


def test_too_large_counts_utf8_bytes() -> None:
    text = '{"type":"message.edit","messageId":"m","text":"' + "é" * 100 + '"}'
    assert len(text) < 200 < len(text.encode())
    exc = decode_or_error(text, max_bytes=200)
    assert isinstance(exc, p.FrameError)
    assert exc.message == "frame is larger than the maximum of 200 bytes"
    assert decode_or_error(text, max_bytes=len(text.encode())) == p.EditMessage("m", "é" * 100)


def test_default_limit() -> None:
    frame = {"type": "message.edit", "messageId": "m", "text": "x" * 70_000}
    assert decode_or_error(orjson.dumps(frame)).code == "too_large"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- ref recovery


@property_settings
@given(s.client_frames, s.ids, st.sampled_from(["nope", "type", "extra"]))
def test_ref_recovered_from_bad_frames(frame: p.ClientFrame, ref: str, breakage: str) -> None:
    wire = {**p.frame_to_wire(frame), "id": ref}
    if breakage == "nope":
        wire["type"] = "nope"
    elif breakage == "type":
        del wire["type"]
    else:
        wire["unexpected"] = 1
    exc = decode_or_error(orjson.dumps(wire))
    assert isinstance(exc, p.FrameError) and exc.ref == ref


@pytest.mark.parametrize("ref", ["", "x" * 65, 7, None, ["r"]])
def test_invalid_id_gives_no_ref(ref: Any) -> None:
    exc = decode_or_error(orjson.dumps({"type": "ping", "id": ref}))
    assert isinstance(exc, p.FrameError) and exc.ref is None and exc.field == "id"


# --------------------------------------------------------------------------- every error message

SEND = {"type": "message.send", "id": "r1", "conversationId": "c1", "clientMsgId": "k1",
        "content": {"type": "text", "text": "hello"}}  # fmt: skip
RECEIPT = {"type": "receipt", "conversationId": "c1", "seq": 3, "status": "read"}
METADATA = {"k": "v" * 9000}
METADATA_BYTES = len(orjson.dumps(METADATA))


def without(frame: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k not in names}


def with_content(**fields: Any) -> dict[str, Any]:
    return {**SEND, "content": {k: v for k, v in fields.items() if v is not ...}}


KNOWN = ", ".join(sorted(schemas.CLIENT_FRAME_SCHEMAS))

#: (frame, code, field, message without the "field: " prefix)
ERROR_EXAMPLES: list[tuple[Any, str, str | None, str]] = [
    (b"[1]", "invalid_frame", None, "a frame must be a JSON object, not an array"),
    (b'"ping"', "invalid_frame", None, 'a frame must be a JSON object, not "ping"'),
    (b"null", "invalid_frame", None, "a frame must be a JSON object, not null"),
    ({}, "invalid_frame", "type", "required field missing"),
    ({"type": 5}, "invalid_frame", "type", "expected a string, got 5"),
    ({"type": None}, "invalid_frame", "type", "expected a string, got null"),
    ({"type": "nope"}, "unknown_type", "type", f'unknown frame type "nope" (known: {KNOWN})'),
    (without(SEND, "conversationId"), "invalid_frame", "conversationId", "required field missing"),
    (without(SEND, "clientMsgId"), "invalid_frame", "clientMsgId", "required field missing"),
    (without(SEND, "content"), "invalid_frame", "content", "required field missing"),
    ({**SEND, "conversationId": ""}, "invalid_frame", "conversationId", "must not be empty"),
    ({**SEND, "conversationId": "c" * 65}, "invalid_frame", "conversationId",
     "65 characters, more than the maximum of 64"),
    ({**SEND, "conversationId": 12}, "invalid_frame", "conversationId", "expected a string, got 12"),
    ({**SEND, "foo": 1}, "invalid_frame", "foo", "unknown field"),
    ({**SEND, "conversationID": "c1"}, "invalid_frame", "conversationID", "unknown field"),
    (with_content(type="text", text="  \n"), "invalid_frame", "content.text", "must not be blank"),
    (with_content(type="text"), "invalid_frame", "content.text", "required field missing"),
    (with_content(text="hi"), "invalid_frame", "content.type", "required field missing"),
    (with_content(type="video", text="hi"), "invalid_frame", "content.type",
     '"video" is not one of "text", "file", "image", "action"'),
    (with_content(type="text", text="x" * 10_001), "invalid_frame", "content.text",
     "10001 characters, more than the maximum of 10000"),
    (with_content(type="text", text=["hi"]), "invalid_frame", "content.text",
     "expected a string, got an array"),
    (with_content(type="file", fileUrl="u" * 2049), "invalid_frame", "content.fileUrl",
     "2049 characters, more than the maximum of 2048"),
    (with_content(type="text", text="hi", metadata=METADATA), "invalid_frame", "content.metadata",
     f"{METADATA_BYTES} bytes when serialised, more than the maximum of 8192"),
    (with_content(type="text", text="hi", metadata=[1]), "invalid_frame", "content.metadata",
     "expected an object, got an array"),
    (with_content(type="text", text="hi", html="<b>"), "invalid_frame", "content.html", "unknown field"),
    ({**SEND, "content": "hello"}, "invalid_frame", "content", 'expected an object, got "hello"'),
    ({**SEND, "attachments": ["a"] * 11}, "invalid_frame", "attachments",
     "11 items, more than the maximum of 10"),
    ({**SEND, "attachments": ["a", ""]}, "invalid_frame", "attachments.1", "must not be empty"),
    ({**SEND, "attachments": "a1"}, "invalid_frame", "attachments", 'expected an array, got "a1"'),
    ({**SEND, "private": "yes"}, "invalid_frame", "private", 'expected a boolean, got "yes"'),
    ({**SEND, "replyTo": None}, "invalid_frame", "replyTo", "expected a string, got null"),
    ({"type": "message.edit", "messageId": "m", "text": " "}, "invalid_frame", "text", "must not be blank"),
    ({"type": "message.edit", "messageId": "m"}, "invalid_frame", "text", "required field missing"),
    ({"type": "message.delete"}, "invalid_frame", "messageId", "required field missing"),
    ({"type": "typing", "conversationId": "c", "state": "go"}, "invalid_frame", "state",
     '"go" is not one of "start", "stop"'),
    ({**RECEIPT, "seq": -1}, "invalid_frame", "seq", "-1 is less than the minimum of 1"),
    ({**RECEIPT, "seq": 0}, "invalid_frame", "seq", "0 is less than the minimum of 1"),
    ({**RECEIPT, "seq": 1.5}, "invalid_frame", "seq", "expected an integer, got 1.5"),
    ({**RECEIPT, "seq": True}, "invalid_frame", "seq", "expected an integer, got true"),
    ({**RECEIPT, "seq": "3"}, "invalid_frame", "seq", 'expected an integer, got "3"'),
    ({**RECEIPT, "seq": 2**53}, "invalid_frame", "seq",
     "9007199254740992 is greater than the maximum of 9007199254740991"),
    ({**RECEIPT, "status": "seen"}, "invalid_frame", "status", '"seen" is not one of "delivered", "read"'),
    ({"type": "reaction.add", "messageId": "m", "emoji": "ab"}, "invalid_frame", "emoji",
     '"ab" is not exactly one emoji'),
    ({"type": "reaction.remove", "messageId": "m", "emoji": "👍👍"}, "invalid_frame", "emoji",
     '"👍👍" is not exactly one emoji'),
    ({"type": "resume", "conversationId": "c", "afterSeq": -1}, "invalid_frame", "afterSeq",
     "-1 is less than the minimum of 0"),
    ({"type": "subscribe"}, "invalid_frame", "conversationId", "required field missing"),
    ({"type": "ping", "id": "x" * 65}, "invalid_frame", "id", "65 characters, more than the maximum of 64"),
    ({"type": "ping", "conversationId": "c"}, "invalid_frame", "conversationId", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "code", "field", "problem"), ERROR_EXAMPLES)
def test_error_messages(data: Any, code: str, field: str | None, problem: str) -> None:
    exc = decode_or_error(data if isinstance(data, bytes) else orjson.dumps(data))
    assert isinstance(exc, p.FrameError)
    assert (exc.code, exc.field, exc.message) == (code, field, f"{field}: {problem}" if field else problem)
    expected_ref = data.get("id") if isinstance(data, dict) and data.get("id") == "r1" else None
    assert exc.ref == expected_ref


def test_long_values_are_abbreviated_in_messages() -> None:
    exc = decode_or_error(orjson.dumps({"type": "typing", "conversationId": "c", "state": "s" * 5000}))
    assert isinstance(exc, p.FrameError) and len(exc.message) < 100 and "…" in exc.message


def test_unknown_field_is_reported_before_a_missing_one() -> None:
    exc = decode_or_error(orjson.dumps({**without(SEND, "clientMsgId"), "clientMsgID": "k"}))
    assert isinstance(exc, p.FrameError) and exc.field == "clientMsgID"


def test_shallowest_problem_wins() -> None:
    bad = {**with_content(type="text", text=" "), "conversationId": ""}
    exc = decode_or_error(orjson.dumps(bad))
    assert isinstance(exc, p.FrameError) and exc.field == "conversationId"


def test_frame_error_repr_and_frame() -> None:
    exc = p.FrameError("invalid_frame", "seq: bad", field="seq", ref="r1")
    assert "seq" in repr(exc) and str(exc) == "seq: bad"
    assert orjson.loads(p.frame_error_to_frame(exc)) == {
        "type": "error",
        "code": "invalid_frame",
        "message": "seq: bad",
        "field": "seq",
        "ref": "r1",
    }


# --------------------------------------------------------------------------- server frames

T0 = dt.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
ADA = User(id="u1", kind="user", role="customer", name="Ada")
MESSAGE = Message(
    id="m1",
    conversation_id="c1",
    seq=4,
    sender=ADA.as_sender(),
    content=Content(text="hi"),
    timestamp=T0,
    client_msg_id="k1",
)
CONVERSATION = Conversation(id="c1", status="active", priority="medium", started_at=T0, last_message_at=T0)


def test_server_frame_basics() -> None:
    frame = p.server_frame("x", conversation_id="c", lastSeq=3, ref=None, at=T0, message=MESSAGE)
    assert orjson.loads(frame) == {
        "type": "x",
        "conversationId": "c",
        "lastSeq": 3,
        "at": "2025-01-02T03:04:05.678Z",
        "message": MESSAGE.to_wire(),
    }
    with pytest.raises(TypeError):
        p.server_frame("x", thing=object())


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (p.ack_frame("r1", MESSAGE), {"type": "ack", "ref": "r1", "message": MESSAGE.to_wire()}),
        (p.ack_frame(), {"type": "ack"}),
        (p.message_new_frame(MESSAGE), {"type": "message.new", "message": MESSAGE.to_wire()}),
        (p.message_updated_frame(MESSAGE), {"type": "message.updated", "message": MESSAGE.to_wire()}),
        (p.message_deleted_frame("c1", "m1", 4),
         {"type": "message.deleted", "conversationId": "c1", "messageId": "m1", "seq": 4}),
        (p.typing_frame("c1", ADA, "start"),
         {"type": "typing", "conversationId": "c1", "user": {"id": "u1", "name": "Ada", "type": "user"},
          "state": "start"}),
        (p.typing_frame("c1", Sender(id="b", type="ai", name="Bot"), "stop"),
         {"type": "typing", "conversationId": "c1", "user": {"id": "b", "name": "Bot", "type": "ai"},
          "state": "stop"}),
        (p.receipt_frame("c1", "u1", "read", 4),
         {"type": "receipt", "conversationId": "c1", "userId": "u1", "status": "read", "seq": 4}),
        (p.reaction_frame("c1", "m1", "added", Reaction("👍", "u1", T0)),
         {"type": "reaction", "conversationId": "c1", "messageId": "m1", "action": "added",
          "reaction": {"emoji": "👍", "userId": "u1", "timestamp": "2025-01-02T03:04:05.678Z"}}),
        (p.presence_frame("u1", "online"), {"type": "presence", "userId": "u1", "status": "online"}),
        (p.conversation_updated_frame(CONVERSATION),
         {"type": "conversation.updated", "conversation": CONVERSATION.to_wire()}),
        (p.queue_updated_frame(3, added=[CONVERSATION]),
         {"type": "queue.updated", "total": 3, "added": [CONVERSATION.to_wire()], "updated": [],
          "removed": []}),
        (p.queue_updated_frame(2, updated=[CONVERSATION], removed=["c2"]),
         {"type": "queue.updated", "total": 2, "added": [], "updated": [CONVERSATION.to_wire()],
          "removed": ["c2"]}),
        (p.resumed_frame("c1", 9, 5, ref="r2"),
         {"type": "resumed", "ref": "r2", "conversationId": "c1", "lastSeq": 9, "count": 5}),
        (p.resync_frame(), {"type": "resync"}),
        (p.pong_frame("r3"), {"type": "pong", "ref": "r3"}),
        (p.pong_frame(), {"type": "pong"}),
        (p.error_frame("not_found", "messageId: no such message", field="messageId"),
         {"type": "error", "code": "not_found", "message": "messageId: no such message",
          "field": "messageId"}),
        (p.ready_frame(ADA, [CONVERSATION], 20.0, "0.1.0"),
         {"type": "ready", "user": ADA.to_wire(), "conversations": [CONVERSATION.to_wire()],
          "heartbeat": 20.0, "server": {"version": "0.1.0"}}),
    ],
)  # fmt: skip
def test_server_frame_constructors(frame: bytes, expected: dict[str, Any]) -> None:
    assert isinstance(frame, bytes)
    assert p.decode_server_frame(frame) == expected
    assert p.decode_server_frame(frame.decode()) == expected


@pytest.mark.parametrize("data", [b"[]", b"{}", b'{"type":1}', b"nope", b"\xff"])
def test_decode_server_frame_errors(data: bytes) -> None:
    with pytest.raises(p.FrameError) as info:
        p.decode_server_frame(data)
    assert info.value.code in ("invalid_json", "invalid_frame") and info.value.message


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("schema", [*schemas.CLIENT_FRAME_SCHEMAS.values(), schemas.MESSAGE_SEND_BODY_SCHEMA])
def test_schemas_are_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    schemas.Validator.check_schema(schema)


def test_message_send_body_schema_for_http() -> None:
    validator = schemas.Validator(schemas.MESSAGE_SEND_BODY_SCHEMA)
    body = without(SEND, "type", "id")
    assert schemas.find_problem(validator, body) is None
    assert schemas.find_problem(validator, {**body, "id": "r"}) == schemas.Problem("id", "id: unknown field")
    assert schemas.find_problem(validator, []) == schemas.Problem(None, "expected an object, got an array")


def test_compile_check_refuses_unknown_keywords() -> None:
    with pytest.raises(ValueError, match="multipleOf"):
        schemas.compile_check({"type": "integer", "multipleOf": 2})
    assert schemas.compile_check(True)(object()) and not schemas.compile_check(False)(1)


# --------------------------------------------------------------------------- docs

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


@functools.cache
def docs() -> str:
    return DOCS_PATH.read_text()


def doc_section(part: str, name: str) -> str:
    """The text under ``### `name``` within the ``## part`` section of docs/protocol.md."""
    part_match = re.search(rf"^## {part}$(.*?)(?=^## |\Z)", docs(), re.M | re.S)
    assert part_match, f"docs/protocol.md has no '## {part}' section"
    match = re.search(rf"^### `{re.escape(name)}`$(.*?)(?=^##|\Z)", part_match.group(1), re.M | re.S)
    assert match, f"docs/protocol.md has no section for `{name}` under '{part}'"
    return match.group(1)


def documented_fields(section: str) -> set[str]:
    return set(re.findall(r"^\| `([\w.]+)` \|", section, re.M))


@pytest.mark.parametrize("frame_type", sorted(schemas.CLIENT_FRAME_SCHEMAS))
def test_docs_describe_every_client_frame(frame_type: str) -> None:
    section = doc_section("Client frames", frame_type)
    documented = documented_fields(section)
    fields = set(schemas.CLIENT_FRAME_SCHEMAS[frame_type]["properties"]) - {"type", "id"}
    if frame_type == "message.send":
        fields |= {f"content.{name}" for name in schemas.CONTENT_SCHEMA["properties"]}
    assert documented == fields
    example = re.search(r"```json\n(.*?)```", section, re.S)
    assert example, f"no JSON example for {frame_type}"
    assert frame_type == p.decode_client_frame(example.group(1)).TYPE


SERVER_FRAMES = {
    "ready": {"user", "conversations", "heartbeat", "server"},
    "ack": {"ref", "message"},
    "message.new": {"message"},
    "message.updated": {"message"},
    "message.deleted": {"conversationId", "messageId", "seq"},
    "message.annotated": {"conversationId", "messageId", "seq", "annotations"},
    "typing": {"conversationId", "user", "state"},
    "receipt": {"conversationId", "userId", "status", "seq"},
    "reaction": {"conversationId", "messageId", "action", "reaction"},
    "presence": {"userId", "status"},
    "conversation.updated": {"conversation"},
    "resumed": {"ref", "conversationId", "lastSeq", "count"},
    "resync": set(),
    "pong": {"ref"},
    "error": {"code", "message", "field", "ref"},
    "upload.progress": {"conversationId", "uploadId", "userId", "name", "received", "total"},
    "upload.finished": {"conversationId", "uploadId", "userId", "status"},
    "csat.answered": {"survey"},
    "mention": {"notification"},
    "reminder": {"notification"},
    "canned.updated": {"cannedResponse"},
    "canned.deleted": {"id"},
}


@pytest.mark.parametrize("frame_type", sorted(SERVER_FRAMES))
def test_docs_describe_every_server_frame(frame_type: str) -> None:
    section = doc_section("Server frames", frame_type)
    documented = {name.split(".")[0] for name in documented_fields(section)}
    assert documented == SERVER_FRAMES[frame_type]
    example = re.search(r"```json\n(.*?)```", section, re.S)
    assert example and p.decode_server_frame(example.group(1))["type"] == frame_type


def test_docs_list_every_error_and_close_code() -> None:
    for code in p.ERROR_CODES:
        assert f"| `{code}` |" in docs(), code
    for close in p.CloseCode:
        assert f"| {close.value} |" in docs(), close
