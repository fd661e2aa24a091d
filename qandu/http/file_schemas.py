"""JSON Schemas of the file API (:mod:`qandu.http.files`): query strings, bodies, responses."""

from __future__ import annotations

from typing import Any

from qandu.domain import ATTACHMENT_TYPES
from qandu.files.model import UPLOAD_STATUSES
from qandu.http.schemas import MAX_PAGE, ref
from qandu.schemas import ID_SCHEMA, object_schema

#: Longest file name a client may send; it is sanitised (and shortened) before use.
MAX_CLIENT_NAME_CHARS = 4096
_TIMESTAMP = {"type": "string", "format": "date-time"}

UPLOAD_QUERY: dict[str, Any] = object_schema(
    {
        "conversationId": {**ID_SCHEMA, "description": "The conversation the file is for."},
        "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_CLIENT_NAME_CHARS,
            "description": "The file's name (required for a raw body; overrides a multipart filename). "
            "It is sanitised: path parts, control and bidi characters go, long names are shortened.",
        },
    },
    ["conversationId"],
)

UPLOAD_BODY: dict[str, Any] = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
            "required": ["file"],
        }
    },
    "*/*": {
        "schema": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "The file itself; Content-Type is its declared type.",
        }
    },
}

LIST_QUERY: dict[str, Any] = object_schema(
    {
        "status": {"enum": list(UPLOAD_STATUSES), "description": "Only uploads with this status."},
        "conversationId": {**ID_SCHEMA, "description": "Only uploads to this conversation."},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE,
            "default": 50,
            "description": "Page size.",
        },
        "before": {"type": "string", "maxLength": 40, "description": "The nextBefore of the previous page."},
    },
    [],
)

_SIG = {"type": "string", "minLength": 1, "maxLength": 2048, "description": "A signed link's token."}
CONTENT_QUERY: dict[str, Any] = object_schema(
    {"sig": _SIG, "download": {"type": "boolean", "description": "Serve images as a download too."}}, []
)
THUMBNAIL_QUERY: dict[str, Any] = object_schema({"sig": _SIG}, [])

_VERDICT = object_schema(
    {
        "clean": {"type": "boolean"},
        "scanner": {"type": "string", "description": "core, or the plugin's name."},
        "reason": {"type": "string"},
        "details": {"type": "object"},
    },
    ["clean", "scanner"],
)

UPLOAD_SCHEMA: dict[str, Any] = object_schema(
    {
        "id": {"type": "string", "description": "Unguessable upload id; send it in attachments."},
        "conversationId": {"type": "string"},
        "uploaderId": {"type": "string"},
        "name": {"type": "string", "description": "The sanitised name."},
        "size": {"type": "integer", "minimum": 1},
        "mimeType": {"type": "string", "description": "Sniffed from the bytes."},
        "type": {"enum": list(ATTACHMENT_TYPES)},
        "status": {"enum": list(UPLOAD_STATUSES)},
        "createdAt": _TIMESTAMP,
        "url": {"type": "string", "description": "Path of the content, relative to the server's URL."},
        "thumbnailUrl": {"type": "string"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "reason": {"type": "string", "description": "Why it was rejected."},
        "sha256": {"type": "string", "description": "Admins only."},
        "declaredType": {"type": ["string", "null"], "description": "Admins only."},
        "verdicts": {"type": "array", "items": _VERDICT, "description": "Admins only."},
        "scannedAt": _TIMESTAMP,
    },
    ["id", "conversationId", "uploaderId", "name", "size", "mimeType", "type", "status", "createdAt", "url"],
)

UPLOAD_RESPONSE = object_schema(
    {"upload": UPLOAD_SCHEMA, "attachment": ref("Attachment")}, ["upload", "attachment"]
)

UPLOADS_RESPONSE = object_schema(
    {
        "uploads": {"type": "array", "items": UPLOAD_SCHEMA},
        "nextBefore": {"type": ["string", "null"], "description": "Pass as before for the next page."},
    },
    ["uploads", "nextBefore"],
)

LINK_RESPONSE = object_schema(
    {
        "url": {"type": "string", "description": "Signed content URL (relative)."},
        "thumbnailUrl": {"type": ["string", "null"]},
        "expiresAt": _TIMESTAMP,
    },
    ["url", "thumbnailUrl", "expiresAt"],
)

BINARY: dict[str, Any] = {
    "*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
}
THUMBNAIL: dict[str, Any] = {"image/webp": {"schema": {"type": "string", "contentMediaType": "image/webp"}}}
