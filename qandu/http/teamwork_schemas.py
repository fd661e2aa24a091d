"""JSON Schemas of the teamwork, lifecycle and review endpoints."""

from __future__ import annotations

from typing import Any

from qandu.domain import CONVERSATION_STATUSES, PRIORITIES
from qandu.http.schemas import MAX_PAGE, _closed, _id, ref
from qandu.schemas import ID_SCHEMA, MAX_TEXT_CHARS, NON_BLANK, object_schema
from qandu.teamwork.types import MAX_TAG_CHARS

MAX_TAGS_PER_REQUEST = 20
_TIMESTAMP = {"type": "string", "format": "date-time"}
_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_TAG = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TAG_CHARS,
    "description": "A tag (normalised to lower case; letters, digits and _ - . : /).",
}
_SHORTCUT = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "description": "What agents type after / to insert it: lower-case letters, digits, _ and -.",
}
_LANGUAGE = {
    "type": ["string", "null"],
    "pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
    "description": "Language code (en, de, pt-BR); null or absent: every language.",
}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50, "description": "Page size."}
_BEFORE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "description": "The nextBefore cursor of the previous page.",
}
_DATE = {
    "type": "string",
    "minLength": 10,
    "maxLength": 40,
    "description": "ISO 8601 date or date-time (UTC unless it has an offset).",
}


COMPONENTS: dict[str, dict[str, Any]] = {
    "CannedResponse": _closed(
        {
            "id": {"type": "string"},
            "shortcut": {"type": "string"},
            "text": {"type": "string"},
            "language": _NULLABLE_STRING,
            "createdBy": _NULLABLE_STRING,
            "createdAt": _TIMESTAMP,
            "updatedAt": _TIMESTAMP,
        },
        ["id", "shortcut", "text", "language", "createdBy", "createdAt", "updatedAt"],
        "A reply agents insert by its shortcut.",
    ),
    "Notification": _closed(
        {
            "id": {"type": "string"},
            "kind": {"enum": ["mention", "reminder"]},
            "conversationId": _NULLABLE_STRING,
            "messageId": _NULLABLE_STRING,
            "actorId": _NULLABLE_STRING,
            "data": {"type": "object"},
            "createdAt": _TIMESTAMP,
            "readAt": _NULLABLE_TIMESTAMP,
        },
        ["id", "kind", "conversationId", "messageId", "actorId", "data", "createdAt", "readAt"],
        "A mention in a private note or a follow-up reminder, for one agent.",
    ),
    "CsatSurvey": _closed(
        {
            "id": {"type": "string"},
            "conversationId": {"type": "string"},
            "messageId": _NULLABLE_STRING,
            "agentId": _NULLABLE_STRING,
            "teamId": _NULLABLE_STRING,
            "sentAt": _TIMESTAMP,
            "rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "comment": _NULLABLE_STRING,
            "answeredAt": _NULLABLE_TIMESTAMP,
        },
        [
            "id",
            "conversationId",
            "messageId",
            "agentId",
            "teamId",
            "sentAt",
            "rating",
            "comment",
            "answeredAt",
        ],
        "A satisfaction survey sent on resolution, and its answer.",
    ),
    "Followup": _closed(
        {
            "id": {"type": "string"},
            "conversationId": {"type": "string"},
            "kind": {"enum": ["message", "reminder"]},
            "text": _NULLABLE_STRING,
            "at": _TIMESTAMP,
            "createdBy": {"type": "string"},
            "createdAt": _TIMESTAMP,
            "status": {"enum": ["scheduled", "firing", "done", "cancelled", "failed"]},
            "firedAt": _NULLABLE_TIMESTAMP,
            "messageId": _NULLABLE_STRING,
            "error": _NULLABLE_STRING,
        },
        [
            "id",
            "conversationId",
            "kind",
            "text",
            "at",
            "createdBy",
            "createdAt",
            "status",
            "firedAt",
            "messageId",
            "error",
        ],
        "A scheduled follow-up message or reminder.",
    ),
}

# --------------------------------------------------------------------------- bodies

TAGS_BODY = object_schema(
    {
        "tags": {
            "type": "array",
            "items": _TAG,
            "minItems": 1,
            "maxItems": MAX_TAGS_PER_REQUEST,
            "description": "Tags to add.",
        }
    },
    ["tags"],
)

_CANNED_FIELDS = {
    "shortcut": _SHORTCUT,
    "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": NON_BLANK},
    "language": _LANGUAGE,
}
CANNED_BODY = object_schema(_CANNED_FIELDS, ["shortcut", "text"])
CANNED_PATCH_BODY = object_schema(_CANNED_FIELDS, [], minProperties=1)

CSAT_BODY = object_schema(
    {
        "rating": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
            "description": "1 (poor) to 5 (excellent).",
        },
        "comment": {"type": "string", "maxLength": 2000, "description": "Anything the customer adds."},
        "surveyId": _id("The survey answered (default: the conversation's latest)."),
    },
    ["rating"],
)

FOLLOWUP_BODY = object_schema(
    {
        "at": {
            "type": "string",
            "minLength": 10,
            "maxLength": 40,
            "description": "When: ISO 8601 date-time with an offset (2025-05-01T09:00:00+02:00 or ...Z).",
        },
        "kind": {
            "enum": ["message", "reminder"],
            "default": "message",
            "description": "message: post text to the customer as you; reminder: notify you.",
        },
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": NON_BLANK},
    },
    ["at"],
)

READ_BODY = object_schema(
    {
        "ids": {"type": "array", "items": ID_SCHEMA, "minItems": 1, "maxItems": 200},
        "all": {"const": True, "description": "Mark every notification read."},
    },
    [],
    minProperties=1,
    maxProperties=1,
)

# --------------------------------------------------------------------------- query strings

TAGS_QUERY = object_schema(
    {
        "q": {"type": "string", "maxLength": MAX_TAG_CHARS, "description": "Tags starting with this."},
        "limit": _LIMIT,
    },
    [],
)
CANNED_QUERY = object_schema(
    {
        "q": {"type": "string", "maxLength": 100, "description": "Shortcut prefix or words of the text."},
        "language": {
            **_LANGUAGE,
            "type": "string",
            "description": "This language and language-neutral ones.",
        },
        "limit": _LIMIT,
    },
    [],
)
NOTIFICATIONS_QUERY = object_schema(
    {"unread": {"type": "boolean", "default": False, "description": "Only unread ones."}, "limit": _LIMIT},
    [],
)

REVIEW_FILTERS: dict[str, Any] = {
    "status": {"enum": list(CONVERSATION_STATUSES), "description": "Only this status."},
    "tag": {
        "type": "string",
        "minLength": 1,
        "maxLength": 400,
        "description": "Only conversations with this tag (several: comma-separated, all required).",
    },
    "agent": _id("Assigned agent's id, or none (unassigned)."),
    "team": _id("Team id."),
    "priority": {"enum": list(PRIORITIES), "description": "Only this priority."},
    "from": {**_DATE, "description": "Started at or after (ISO 8601)."},
    "to": {**_DATE, "description": "Started before (ISO 8601)."},
    "csatMin": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Latest rating at least."},
    "csatMax": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Latest rating at most."},
    "intent": {
        "type": "string",
        "minLength": 1,
        "maxLength": 60,
        "description": "A message of the conversation has this intent (NLU annotations).",
    },
    "sentiment": {
        "enum": ["negative", "neutral", "positive"],
        "description": "A message of the conversation has this sentiment label (NLU annotations).",
    },
}
REVIEW_QUERY = object_schema({**REVIEW_FILTERS, "limit": _LIMIT, "before": _BEFORE}, [])
EXPORT_QUERY = object_schema(
    {
        **REVIEW_FILTERS,
        "format": {"enum": ["json", "csv"], "default": "json", "description": "json or csv."},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 100_000,
            "default": 10_000,
            "description": "At most this many conversations.",
        },
    },
    [],
)
SEARCH_QUERY = object_schema(
    {
        "q": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Words to find (prefixes match).",
        },
        "conversationId": _id("Only in this conversation."),
        "limit": _LIMIT,
        "before": _BEFORE,
    },
    ["q"],
)
METRICS_QUERY = object_schema({}, [])

# --------------------------------------------------------------------------- responses

CONVERSATION_RESPONSE = _closed({"conversation": ref("Conversation")}, ["conversation"])
TAGS_RESPONSE = _closed(
    {
        "tags": {
            "type": "array",
            "items": _closed({"tag": {"type": "string"}, "count": {"type": "integer"}}, ["tag", "count"]),
            "description": "Tags in use, most used first.",
        }
    },
    ["tags"],
)
CANNED_RESPONSE = _closed({"cannedResponse": ref("CannedResponse")}, ["cannedResponse"])
CANNED_LIST_RESPONSE = _closed(
    {"cannedResponses": {"type": "array", "items": ref("CannedResponse")}}, ["cannedResponses"]
)
NOTIFICATIONS_RESPONSE = _closed(
    {
        "notifications": {"type": "array", "items": ref("Notification"), "description": "Newest first."},
        "unread": {"type": "integer", "minimum": 0, "description": "How many are unread in all."},
    },
    ["notifications", "unread"],
)
DELETED_RESPONSE = _closed({"id": {"type": "string"}, "deleted": {"const": True}}, ["id", "deleted"])
READ_RESPONSE = _closed({"marked": {"type": "integer", "minimum": 0}}, ["marked"])
THREAD_RESPONSE = _closed(
    {
        "root": ref("Message"),
        "replies": {
            "type": "array",
            "items": ref("Message"),
            "description": "Every reply below the root, by seq.",
        },
    },
    ["root", "replies"],
)
SURVEY_RESPONSE = _closed({"survey": ref("CsatSurvey")}, ["survey"])
SURVEYS_RESPONSE = _closed({"surveys": {"type": "array", "items": ref("CsatSurvey")}}, ["surveys"])
FOLLOWUP_RESPONSE = _closed({"followup": ref("Followup")}, ["followup"])
FOLLOWUPS_RESPONSE = _closed({"followups": {"type": "array", "items": ref("Followup")}}, ["followups"])
REVIEW_RESPONSE = _closed(
    {
        "conversations": {"type": "array", "items": ref("Conversation"), "description": "Most recent first."},
        "nextBefore": {"type": ["string", "null"], "description": "Cursor of the next page; null: none."},
    },
    ["conversations", "nextBefore"],
)
SEARCH_RESPONSE = _closed(
    {
        "messages": {"type": "array", "items": ref("Message"), "description": "Newest first."},
        "nextBefore": {"type": ["string", "null"], "description": "Cursor of the next page; null: none."},
    },
    ["messages", "nextBefore"],
)
EXPORT_CONTENT = {
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "text/csv": {"schema": {"type": "string"}},
}
METRICS_CONTENT = {"text/plain": {"schema": {"type": "string"}}}
