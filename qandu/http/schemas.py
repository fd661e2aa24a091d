"""JSON Schemas of the HTTP API's request bodies, query strings and responses.

The single source for both request validation (:mod:`qandu.http.validation`) and the OpenAPI
document (:mod:`qandu.http.openapi`).  Message content and the ``message.send`` fields come
from :mod:`qandu.schemas`, shared with the gateway.  Response shapes are referenced as
``#/components/schemas/<Name>`` and listed in :data:`COMPONENTS`.
"""

from __future__ import annotations

from typing import Any

from qandu.domain import (
    ATTACHMENT_TYPES,
    CONVERSATION_STATUSES,
    MESSAGE_STATUSES,
    PRIORITIES,
    ROLES,
    SENDER_TYPES,
)
from qandu.schemas import (
    CONTENT_SCHEMA,
    ID_SCHEMA,
    MAX_SEQ,
    MAX_TEXT_CHARS,
    MESSAGE_SEND_BODY_SCHEMA,
    NON_BLANK,
    object_schema,
)

MAX_PAGE = 200
DEFAULT_PAGE = 50
MAX_NAME_CHARS = 200
MAX_FIELD_CHARS = 320
MAX_TOKEN_CHARS = 4096
MAX_CONTEXT_BYTES = 8192


def ref(name: str) -> dict[str, Any]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str, max_length: int = MAX_FIELD_CHARS, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": description, **extra}


def _id(description: str) -> dict[str, Any]:
    return {**ID_SCHEMA, "description": description}


def _free_object(description: str) -> dict[str, Any]:
    return {"type": "object", "x-maxJsonBytes": MAX_CONTEXT_BYTES, "description": description}


SEQ_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_SEQ}
EMOJI_SCHEMA: dict[str, Any] = {"type": "string", "format": "emoji", "description": "Exactly one emoji."}
TEXT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": MAX_TEXT_CHARS,
    "pattern": NON_BLANK,
    "description": "The new text.",
}

# --------------------------------------------------------------------------- request bodies

INITIALIZE_BODY: dict[str, Any] = object_schema(
    {
        "bot": _string("Bot that serves the conversation (default: the server's default bot).", 64),
        "name": _string("The visitor's display name (default: Visitor).", MAX_NAME_CHARS),
        "email": _string(
            "The visitor's e-mail address (unverified: kept in the conversation's context "
            "unless the identity is site-verified).",
        ),
        "locale": _string("The visitor's locale, such as de-AT.", 35),
        "source": _string("Where the chat was started (default: api).", 64),
        "context": _free_object("Free-form context (page URL, ...), at most 8 KB serialised."),
        "customFields": _free_object("Free-form custom fields, at most 8 KB serialised."),
        "token": _string(
            "A customer token from an earlier initialize: resume that identity in a new conversation.",
            MAX_TOKEN_CHARS,
        ),
        "site": _string("Identity verification: the site, as configured in [auth.sites].", 64),
        "userId": _string("Identity verification: the site's id of its logged-in user.", 256),
        "userHash": _string(
            "Identity verification: HMAC-SHA256 (hex) of userId with the site's secret.", 128
        ),
    },
    [],
    dependentRequired={
        "site": ["userId", "userHash"],
        "userId": ["site", "userHash"],
        "userHash": ["site", "userId"],
    },
)

MESSAGE_BODY: dict[str, Any] = MESSAGE_SEND_BODY_SCHEMA

RECEIPT_BODY: dict[str, Any] = object_schema(
    {
        "status": {
            "enum": ["delivered", "read"],
            "description": "Mark up to this message as delivered or read.",
        }
    },
    ["status"],
)

LOGIN_BODY: dict[str, Any] = object_schema(
    {
        "email": _string("The account's e-mail address."),
        "password": {"type": "string", "minLength": 1, "maxLength": 1024, "description": "The password."},
    },
    ["email", "password"],
)

STATUS_BODY: dict[str, Any] = object_schema(
    {
        "status": {"enum": list(CONVERSATION_STATUSES), "description": "The new status."},
        "reason": _string("Why (kept in the status history).", 500),
    },
    ["status"],
)

EDIT_BODY: dict[str, Any] = object_schema({"text": TEXT_SCHEMA}, ["text"])

REACTION_BODY: dict[str, Any] = object_schema({"emoji": EMOJI_SCHEMA}, ["emoji"])

# --------------------------------------------------------------------------- query strings

_LIMIT = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_PAGE,
    "default": DEFAULT_PAGE,
    "description": f"Page size (1 to {MAX_PAGE}).",
}

HISTORY_QUERY: dict[str, Any] = object_schema(
    {
        "before": {**SEQ_SCHEMA, "description": "Only messages with a smaller seq (older page)."},
        "after": {**SEQ_SCHEMA, "description": "Only messages with a greater seq (page forward)."},
        "limit": _LIMIT,
    },
    [],
)

CONVERSATIONS_QUERY: dict[str, Any] = object_schema(
    {
        "status": {"enum": list(CONVERSATION_STATUSES), "description": "Only conversations in this status."},
        "assignee": _string("me, none, or an agent's user id.", 64),
        "tag": _string("Only conversations with this tag.", 64),
        "limit": _LIMIT,
        "before": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "description": "The nextBefore cursor of the previous page.",
        },
    },
    [],
)

MAX_SUGGESTIONS = 20

SUGGESTIONS_QUERY: dict[str, Any] = object_schema(
    {
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SUGGESTIONS,
            "default": 5,
            "description": f"How many suggestions (1 to {MAX_SUGGESTIONS}).",
        }
    },
    [],
)

# --------------------------------------------------------------------------- responses

_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _closed(properties: dict[str, Any], required: list[str], description: str = "") -> dict[str, Any]:
    schema = object_schema(properties, required)
    if description:
        schema["description"] = description
    return schema


COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": _closed(
        {
            "error": _closed(
                {
                    "code": {"type": "string", "description": "Machine-readable error code."},
                    "message": {"type": "string", "description": "What went wrong."},
                    "field": {"type": "string", "description": "Dotted path of the offending field."},
                },
                ["code", "message"],
            )
        },
        ["error"],
        "Every error response.",
    ),
    "User": _closed(
        {
            "id": {"type": "string"},
            "type": {"enum": ["user", "agent", "ai"]},
            "role": {"enum": list(ROLES)},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "avatar": {"type": "string"},
        },
        ["id", "type", "role", "name"],
        "A customer, agent, admin or bot.",
    ),
    "Sender": _closed(
        {
            "id": {"type": "string"},
            "type": {"enum": list(SENDER_TYPES)},
            "name": {"type": "string"},
            "avatar": {"type": "string"},
        },
        ["id", "type", "name"],
    ),
    # What the server sends back: the request's content without its "text is required" rule
    # (a deleted message has no text).
    "Content": {key: value for key, value in CONTENT_SCHEMA.items() if key not in ("if", "then")},
    "Attachment": _closed(
        {
            "id": {"type": "string"},
            "type": {"enum": list(ATTACHMENT_TYPES)},
            "url": {"type": "string"},
            "name": {"type": "string"},
            "size": {"type": "integer", "minimum": 0},
            "mimeType": {"type": "string"},
        },
        ["id", "type", "url", "name", "size", "mimeType"],
    ),
    "Reaction": _closed(
        {"emoji": {"type": "string"}, "userId": {"type": "string"}, "timestamp": _TIMESTAMP},
        ["emoji", "userId", "timestamp"],
    ),
    "Message": _closed(
        {
            "id": {"type": "string"},
            "conversationId": {"type": "string"},
            "seq": {"type": "integer", "minimum": 1},
            "sender": ref("Sender"),
            "content": ref("Content"),
            "timestamp": _TIMESTAMP,
            "status": {"enum": list(MESSAGE_STATUSES)},
            "clientMsgId": {"type": "string"},
            "replyTo": {"type": "string"},
            "attachments": {"type": "array", "items": ref("Attachment")},
            "reactions": {"type": "array", "items": ref("Reaction")},
            "private": {"const": True},
            "editedAt": _TIMESTAMP,
            "deletedAt": _TIMESTAMP,
            "annotations": {
                "type": "object",
                "description": "Staff only: what the analysers found (intent, entities, sentiment...).",
            },
        },
        ["id", "conversationId", "seq", "sender", "content", "timestamp", "status"],
        "A stored chat message.",
    ),
    "Participant": _closed(
        {
            "id": {"type": "string"},
            "type": {"enum": ["user", "agent", "ai"]},
            "role": {"enum": list(ROLES)},
            "name": {"type": "string"},
            "joinedAt": _TIMESTAMP,
            "leftAt": _TIMESTAMP,
        },
        ["id", "type", "role", "joinedAt"],
    ),
    "Conversation": _closed(
        {
            "id": {"type": "string"},
            "participants": {"type": "array", "items": ref("Participant")},
            "status": {"enum": list(CONVERSATION_STATUSES)},
            "priority": {"enum": list(PRIORITIES)},
            "tags": {"type": "array", "items": {"type": "string"}},
            "startedAt": _TIMESTAMP,
            "lastMessageAt": _TIMESTAMP,
            "metadata": _closed(
                {
                    "source": {"type": "string"},
                    "context": {"type": "object"},
                    "customFields": {"type": "object"},
                },
                ["source"],
            ),
            "bot": _NULLABLE_STRING,
            "assigneeId": _NULLABLE_STRING,
            "lastSeq": {"type": "integer", "minimum": 0},
            # routing: set only when known
            "priorityReason": {"type": "string", "description": "Why it has this priority."},
            "teamId": {"type": "string", "description": "The team it belongs to."},
            "queuedAt": {**_TIMESTAMP, "description": "When it started waiting for a person."},
            "sla": _closed(
                {
                    "firstResponseAt": _TIMESTAMP,
                    "firstResponseDue": _TIMESTAMP,
                    "nextResponseDue": _TIMESTAMP,
                    "firstResponseBreached": {"const": True},
                    "nextResponseBreached": {"const": True},
                },
                [],
                "Response clocks: deadlines, when an agent first answered, breaches.",
            ),
        },
        [
            "id",
            "participants",
            "status",
            "priority",
            "tags",
            "startedAt",
            "lastMessageAt",
            "metadata",
            "bot",
            "assigneeId",
            "lastSeq",
        ],
        "A conversation between a customer, bots and agents.",
    ),
    "Suggestion": _closed(
        {
            "text": {"type": "string", "description": "The reply an agent could send."},
            "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "Higher is better."},
            "source": {"enum": ["knowledge", "template", "llm", "action"]},
            "reference": {"type": "string", "description": "What it came from (passage id, intent:<name>)."},
        },
        ["text", "score", "source"],
        "A reply suggested to an agent.",
    ),
    "StatusChange": _closed(
        {
            "from": {"enum": list(CONVERSATION_STATUSES)},
            "to": {"enum": list(CONVERSATION_STATUSES)},
            "by": {"type": "string"},
            "reason": {"type": "string"},
            "at": _TIMESTAMP,
        },
        ["from", "to", "at"],
    ),
}

_MESSAGE = {"message": ref("Message")}
_CONVERSATION = {"conversation": ref("Conversation")}
_NULLABLE_SEQ = {"type": ["integer", "null"], "minimum": 0}

MESSAGE_RESPONSE = _closed(_MESSAGE, ["message"])
CONVERSATION_RESPONSE = _closed(_CONVERSATION, ["conversation"])
USER_RESPONSE = _closed({"user": ref("User")}, ["user"])

INITIALIZE_RESPONSE = _closed(
    {
        "token": {"type": "string", "description": "Bearer token of the customer."},
        "user": ref("User"),
        "conversation": ref("Conversation"),
        "gatewayUrl": {"type": "string", "description": "WebSocket URL of the real-time gateway."},
        "greeting": {"oneOf": [ref("Message"), {"type": "null"}], "description": "The bot's greeting."},
    },
    ["token", "user", "conversation", "gatewayUrl", "greeting"],
)

LOGIN_RESPONSE = _closed(
    {
        "token": {"type": "string"},
        "user": ref("User"),
        "gatewayUrl": {"type": "string", "description": "WebSocket URL of the real-time gateway."},
    },
    ["token", "user", "gatewayUrl"],
)

HISTORY_RESPONSE = _closed(
    {
        "messages": {"type": "array", "items": ref("Message"), "description": "Ascending seq."},
        "hasMore": {
            "type": "boolean",
            "description": "More messages exist in the paging direction (back, or forward with after).",
        },
        "nextBefore": {**_NULLABLE_SEQ, "description": "Pass as before for the older page; null: no more."},
        "nextAfter": {
            **_NULLABLE_SEQ,
            "description": "Paging forward: pass as after for the next page; null: no more.",
        },
    },
    ["messages", "hasMore", "nextBefore", "nextAfter"],
)

CONVERSATIONS_RESPONSE = _closed(
    {
        "conversations": {"type": "array", "items": ref("Conversation"), "description": "Most recent first."},
        "nextBefore": {"type": ["string", "null"], "description": "Cursor of the next page; null: none."},
    },
    ["conversations", "nextBefore"],
)

CONVERSATION_DETAIL_RESPONSE = _closed(
    {
        "conversation": ref("Conversation"),
        "statusHistory": {
            "type": "array",
            "items": ref("StatusChange"),
            "description": "Status changes, oldest first (staff only).",
        },
    },
    ["conversation"],
)

HEALTH_RESPONSE = _closed(
    {
        "status": {"const": "ok"},
        "storage": {"type": "string", "description": "Storage backend (sqlite or postgresql)."},
        "connections": {"type": "integer", "minimum": 0, "description": "Open gateway connections."},
        "bus": _closed(
            {
                "backend": {"enum": ["memory", "redis"], "description": "Fan-out backend."},
                "connected": {"type": "boolean", "description": "Whether fan-out reaches the other nodes."},
                "node": {"type": "string", "description": "This node's id (Redis backend)."},
            },
            ["backend", "connected"],
        ),
    },
    ["status", "storage", "connections", "bus"],
)

OPENAPI_RESPONSE: dict[str, Any] = {"type": "object", "description": "This OpenAPI 3.1 document."}

SUGGESTIONS_RESPONSE = _closed(
    {
        "conversationId": {"type": "string"},
        "messageId": {
            "type": ["string", "null"],
            "description": "The customer message the suggestions answer; null: none yet.",
        },
        "suggestions": {"type": "array", "items": ref("Suggestion"), "description": "Best first."},
    },
    ["conversationId", "messageId", "suggestions"],
)
