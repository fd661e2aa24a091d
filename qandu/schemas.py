"""JSON Schemas (Draft 2020-12) of the client frames, as plain dicts: the single source of truth.

The gateway validates frames with them, ``docs/protocol.md`` documents them, and the HTTP API
reuses the ``message.send`` pieces (:data:`CONTENT_SCHEMA`, :data:`MESSAGE_SEND_FIELDS`,
:data:`MESSAGE_SEND_BODY_SCHEMA`) for ``POST /api/chat/message`` and its OpenAPI document.

Validation goes through :data:`Validator`, Draft 2020-12 with keyword implementations whose
messages are short, safe to send to clients (no unbounded ``repr`` of the input) and name the
field, plus two checks JSON Schema cannot express:

* ``"format": "emoji"`` -- exactly one emoji (``emoji.is_emoji``);
* ``"x-maxJsonBytes": n`` -- the value is at most ``n`` bytes once serialised as JSON;
* ``"x-maxDepth": n`` -- objects and arrays nest at most ``n`` levels (``{}`` is 1).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import emoji
import orjson
from jsonschema import Draft202012Validator, ValidationError, validators

from qandu.domain import CONTENT_TYPES

# --------------------------------------------------------------------------- limits

MAX_ID_CHARS = 64
MAX_TEXT_CHARS = 10_000
MAX_URL_CHARS = 2048
MAX_METADATA_BYTES = 8192
#: Levels of nesting allowed in ``content.metadata`` (the object itself is level 1).
MAX_METADATA_DEPTH = 32
MAX_ATTACHMENTS = 10
#: Largest sequence number a client may send (JavaScript's ``Number.MAX_SAFE_INTEGER``).
MAX_SEQ = 2**53 - 1
#: Pattern meaning "contains at least one non-whitespace character".
NON_BLANK = r"\S"

# --------------------------------------------------------------------------- shared pieces

ID_SCHEMA: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}

CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What a message says.",
    "properties": {
        "type": {"enum": list(CONTENT_TYPES), "description": "Kind of content."},
        "text": {
            "type": "string",
            "maxLength": MAX_TEXT_CHARS,
            "description": "The text; required and non-blank when type is text, else a caption.",
        },
        "fileUrl": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_URL_CHARS,
            "description": "URL of the file or image.",
        },
        "metadata": {
            "type": "object",
            "x-maxDepth": MAX_METADATA_DEPTH,
            "x-maxJsonBytes": MAX_METADATA_BYTES,
            "description": "Free-form object: at most 8 KB serialised, 32 levels deep.",
        },
    },
    "required": ["type"],
    "additionalProperties": False,
    "if": {"properties": {"type": {"const": "text"}}, "required": ["type"]},
    "then": {"required": ["text"], "properties": {"text": {"pattern": NON_BLANK}}},
}

#: The body fields of ``message.send`` (without ``type``/``id``), reusable by the HTTP API.
MESSAGE_SEND_FIELDS: dict[str, Any] = {
    "conversationId": {**ID_SCHEMA, "description": "The conversation to post to."},
    "clientMsgId": {**ID_SCHEMA, "description": "Sender-chosen idempotency key."},
    "content": CONTENT_SCHEMA,
    "replyTo": {**ID_SCHEMA, "description": "Id of the message this one answers."},
    "attachments": {
        "type": "array",
        "items": ID_SCHEMA,
        "maxItems": MAX_ATTACHMENTS,
        "description": "Ids of previously uploaded attachments.",
    },
    "private": {"type": "boolean", "description": "An agent's private note, hidden from customers."},
}
MESSAGE_SEND_REQUIRED: list[str] = ["conversationId", "clientMsgId", "content"]


def object_schema(properties: Mapping[str, Any], required: Sequence[str], **extra: Any) -> dict[str, Any]:
    """Return a closed object schema (no additional properties) over ``properties``."""
    return {
        "type": "object",
        **extra,
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


MESSAGE_SEND_BODY_SCHEMA = object_schema(MESSAGE_SEND_FIELDS, MESSAGE_SEND_REQUIRED)


def frame_schema(
    frame_type: str,
    description: str,
    properties: Mapping[str, Any] | None = None,
    required: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the schema of one client frame: ``type`` and optional ``id`` plus ``properties``."""
    return object_schema(
        {
            "type": {"const": frame_type},
            "id": {**ID_SCHEMA, "description": "Client request id, echoed as ref in the answer."},
            **(properties or {}),
        },
        ["type", *required],
        title=frame_type,
        description=description,
    )


def _id(description: str) -> dict[str, Any]:
    return {**ID_SCHEMA, "description": description}


_CONVERSATION = {"conversationId": _id("The conversation.")}
_MESSAGE = {"messageId": _id("The message.")}
_EMOJI = {"emoji": {"type": "string", "format": "emoji", "description": "Exactly one emoji."}}

#: One schema per client frame type, keyed by the frame's ``type``.
CLIENT_FRAME_SCHEMAS: dict[str, dict[str, Any]] = {
    schema["title"]: schema
    for schema in (
        frame_schema("message.send", "Post a message.", MESSAGE_SEND_FIELDS, MESSAGE_SEND_REQUIRED),
        frame_schema(
            "message.edit",
            "Change the text of one of your messages.",
            {
                **_MESSAGE,
                "text": {
                    "type": "string",
                    "maxLength": MAX_TEXT_CHARS,
                    "pattern": NON_BLANK,
                    "description": "The new text.",
                },
            },
            ["messageId", "text"],
        ),
        frame_schema("message.delete", "Delete one of your messages.", _MESSAGE, ["messageId"]),
        frame_schema(
            "typing",
            "Say you started or stopped typing.",
            {**_CONVERSATION, "state": {"enum": ["start", "stop"], "description": "start or stop."}},
            ["conversationId", "state"],
        ),
        frame_schema(
            "receipt",
            "Mark messages up to seq as delivered or read.",
            {
                **_CONVERSATION,
                "seq": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_SEQ,
                    "description": "Highest seq delivered/read.",
                },
                "status": {"enum": ["delivered", "read"], "description": "delivered or read."},
            },
            ["conversationId", "seq", "status"],
        ),
        frame_schema("reaction.add", "React to a message.", {**_MESSAGE, **_EMOJI}, ["messageId", "emoji"]),
        frame_schema(
            "reaction.remove", "Take back a reaction.", {**_MESSAGE, **_EMOJI}, ["messageId", "emoji"]
        ),
        frame_schema(
            "resume",
            "Ask for every message with seq > afterSeq.",
            {
                **_CONVERSATION,
                "afterSeq": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_SEQ,
                    "description": "Last seq you saw (0: from the start).",
                },
            },
            ["conversationId", "afterSeq"],
        ),
        frame_schema("subscribe", "Watch a conversation live (staff).", _CONVERSATION, ["conversationId"]),
        frame_schema("unsubscribe", "Stop watching a conversation.", _CONVERSATION, ["conversationId"]),
        frame_schema("ping", "Application-level ping; answered by pong."),
        frame_schema(
            "presence.set",
            "Set your availability (staff): online, away or offline.",
            {"status": {"enum": ["online", "away", "offline"], "description": "online, away or offline."}},
            ["status"],
        ),
        frame_schema(
            "csat.submit",
            "Answer the satisfaction survey (the customer; once per survey).",
            {
                **_CONVERSATION,
                "rating": {"type": "integer", "minimum": 1, "maximum": 5, "description": "1 (poor) to 5."},
                "comment": {"type": "string", "maxLength": 2000, "description": "Anything to add."},
                "surveyId": _id("The survey answered (default: the latest)."),
            },
            ["conversationId", "rating"],
        ),
    )
}

# --------------------------------------------------------------------------- validation
#
# Each leaf keyword is a predicate plus a message, shared by the jsonschema keyword functions
# (which report errors) and by compile_check (the fast all-valid path, see below).

_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def describe(value: Any, limit: int = 40) -> str:
    """Render ``value`` briefly for an error message (containers are named, never dumped)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return orjson.dumps(text).decode()
    if isinstance(value, int | float):
        return repr(value)
    return type(value).__name__


def _is_type(instance: Any, name: str) -> bool:
    """Draft 2020-12 types: booleans are not numbers; 1.0 is an integer."""
    if name == "string":
        return isinstance(instance, str)
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool):
        return False
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    return name == "number" and isinstance(instance, int | float)


def _is_number(instance: Any) -> bool:
    return isinstance(instance, int | float) and not isinstance(instance, bool)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _json_size(instance: Any) -> int | None:
    try:
        return len(orjson.dumps(instance))
    except TypeError:  # orjson refuses nesting deeper than 254 levels
        return None


def _json_size_message(limit: int, instance: Any) -> str:
    size = _json_size(instance)
    if size is None:
        return "nested too deeply"
    return f"{size} bytes when serialised, more than the maximum of {limit}"


def _depth(instance: Any, limit: int) -> int:
    """Return how deep ``instance`` nests (a scalar is 0), or ``limit + 1`` once past ``limit``."""
    deepest = 0
    stack = [(instance, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if level > limit:
            return level
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


_Predicate = Callable[[Any, Any], bool]
_Message = Callable[[Any, Any], str]

#: keyword -> (is the instance valid for this keyword value?, what is wrong with it)
_LEAF_KEYWORDS: dict[str, tuple[_Predicate, _Message]] = {
    "type": (
        lambda types, x: any(_is_type(x, t) for t in ([types] if isinstance(types, str) else types)),
        lambda types, x: "expected {}, got {}".format(
            " or ".join(_JSON_TYPES.get(t, t) for t in ([types] if isinstance(types, str) else types)),
            describe(x),
        ),
    ),
    "enum": (
        lambda enums, x: any(_same(x, each) for each in enums),
        lambda enums, x: f"{describe(x)} is not one of {', '.join(describe(each) for each in enums)}",
    ),
    "const": (_same, lambda const, x: f"must be {describe(const)}, not {describe(x)}"),
    "minimum": (
        lambda limit, x: not _is_number(x) or x >= limit,
        lambda limit, x: f"{describe(x)} is less than the minimum of {limit}",
    ),
    "maximum": (
        lambda limit, x: not _is_number(x) or x <= limit,
        lambda limit, x: f"{describe(x)} is greater than the maximum of {limit}",
    ),
    "minLength": (
        lambda limit, x: not isinstance(x, str) or len(x) >= limit,
        lambda limit, x: "must not be empty" if limit == 1 else f"shorter than {limit} characters",
    ),
    "maxLength": (
        lambda limit, x: not isinstance(x, str) or len(x) <= limit,
        lambda limit, x: f"{len(x)} characters, more than the maximum of {limit}",
    ),
    "maxItems": (
        lambda limit, x: not isinstance(x, list) or len(x) <= limit,
        lambda limit, x: f"{len(x)} items, more than the maximum of {limit}",
    ),
    "pattern": (
        lambda pattern, x: not isinstance(x, str) or re.search(pattern, x) is not None,
        lambda pattern, x: "must not be blank" if pattern == NON_BLANK else f"does not match {pattern}",
    ),
    "format": (
        lambda fmt, x: fmt != "emoji" or not isinstance(x, str) or emoji.is_emoji(x),
        lambda fmt, x: f"{describe(x)} is not exactly one emoji",
    ),
    "x-maxDepth": (
        lambda limit, x: _depth(x, limit) <= limit,
        lambda limit, x: f"nested more than {limit} levels deep",
    ),
    "x-maxJsonBytes": (
        lambda limit, x: (size := _json_size(x)) is not None and size <= limit,
        _json_size_message,
    ),
}

#: Keywords that only annotate.
_ANNOTATIONS = frozenset({"title", "description"})


def _leaf(ok: _Predicate, message: _Message) -> Callable[..., Iterator[ValidationError]]:
    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if not ok(value, instance):
            yield ValidationError(message(value, instance))

    return keyword


def _required(validator: Any, required: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield ValidationError("required field missing", path=[name])


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if allowed is False and isinstance(instance, dict):
        known = schema.get("properties", {})
        for name in instance:
            if name not in known:
                yield ValidationError("unknown field", path=[name])
    elif isinstance(allowed, dict):  # unused by our schemas: keep the standard behaviour
        yield from _STANDARD["additionalProperties"](validator, allowed, instance, schema)


_STANDARD = Draft202012Validator.VALIDATORS

#: Draft 2020-12 with QanDu's messages and the ``emoji`` format / ``x-maxJsonBytes`` keyword.
Validator = validators.extend(
    Draft202012Validator,
    {
        **{name: _leaf(*pair) for name, pair in _LEAF_KEYWORDS.items()},
        "required": _required,
        "additionalProperties": _additional_properties,
    },
)

# A missing or unknown field is reported before a bad value at the same depth.
_RANK = {"additionalProperties": 0, "required": 1}


@attrs.frozen
class Problem:
    """The first thing wrong with a value: ``field`` is a dotted path (``None``: the whole value)."""

    field: str | None
    message: str


def find_problem(validator: Any, instance: Any) -> Problem | None:
    """Return the most relevant validation problem of ``instance``, or ``None`` if it is valid.

    The shallowest error wins; at equal depth an unknown field, then a missing one, then the
    first error in schema order.  ``message`` is prefixed with the field path: ``"seq: ..."``.
    """
    best = None
    best_key: tuple[int, int] | None = None
    for error in validator.iter_errors(instance):
        key = (len(error.absolute_path), _RANK.get(error.validator, 2))
        if best_key is None or key < best_key:
            best, best_key = error, key
    if best is None:
        return None
    path = best.absolute_path
    field = ".".join(str(part) for part in path) if path else None
    return Problem(field, best.message if field is None else f"{field}: {best.message}")


# --------------------------------------------------------------------------- fast path
#
# jsonschema walks the schema on every call (~50 µs for a message.send); compile_check turns a
# schema into nested closures that only answer "valid?" (a few µs).  Callers run it first and
# fall back to find_problem for the message.  It supports exactly the keywords used above and
# refuses any other, so a schema change cannot silently skip a check; tests assert both agree.

_Check = Callable[[Any], bool]


def _all(checks: list[_Check]) -> _Check:
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]

    def check(x: Any) -> bool:
        for each in checks:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not each(x):
                return False
        return True

    return check


def _properties(subs: list[tuple[str, _Check]]) -> _Check:
    def check(x: Any) -> bool:
        if isinstance(x, dict):
            for name, sub in subs:
                if name in x and not sub(x[name]):
                    return False
        return True

    return check


_PY_TYPES: dict[str, type] = {"string": str, "object": dict, "array": list, "boolean": bool}


def compile_check(schema: Any) -> _Check:
    """Compile ``schema`` into a predicate equivalent to ``find_problem(...) is None``.

    :raises ValueError: if the schema uses a keyword the compiler does not know.
    """
    if isinstance(schema, bool):
        return lambda x: schema
    checks: list[_Check] = []
    for key, value in schema.items():
        if key == "type" and value in _PY_TYPES:
            checks.append(lambda x, cls=_PY_TYPES[value]: isinstance(x, cls))
        elif key in _LEAF_KEYWORDS:
            checks.append(functools.partial(_LEAF_KEYWORDS[key][0], value))
        elif key == "properties":
            checks.append(_properties([(name, compile_check(sub)) for name, sub in value.items()]))
        elif key == "required":
            checks.append(lambda x, names=tuple(value): not isinstance(x, dict) or all(n in x for n in names))
        elif key == "additionalProperties" and value is False:
            known = frozenset(schema.get("properties", ()))
            checks.append(lambda x, known=known: not isinstance(x, dict) or known.issuperset(x))
        elif key == "items":
            item = compile_check(value)
            checks.append(lambda x, item=item: not isinstance(x, list) or all(map(item, x)))
        elif key == "if":
            cond, then = compile_check(value), compile_check(schema.get("then", True))
            orelse = compile_check(schema.get("else", True))
            checks.append(lambda x, c=cond, t=then, e=orelse: t(x) if c(x) else e(x))
        elif key not in _ANNOTATIONS and key not in ("then", "else"):
            raise ValueError(f"compile_check does not support the keyword {key!r}")
    return _all(checks)
