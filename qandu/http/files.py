"""The file API: upload (streamed, limited), metadata, signed links, download and thumbnail.

Registered on the same :data:`qandu.http.api.api` registry as the chat operations (imported
by :mod:`qandu.http.server`).  The flow and the access rules are in :mod:`qandu.files.service`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import trio
from starlette.responses import FileResponse, Response, StreamingResponse

from qandu.domain import iso
from qandu.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from qandu.files.model import Upload
from qandu.files.names import content_disposition, sanitize_filename
from qandu.files.receive import (
    MULTIPART_OVERHEAD,
    FileTooLarge,
    multipart_boundary,
    receive_multipart,
    receive_raw,
    too_large,
)
from qandu.files.service import FileRejected
from qandu.files.sniff import INLINE_IMAGE_TYPES, OCTET_STREAM
from qandu.files.thumbs import THUMBNAIL_TYPE
from qandu.http import file_schemas as s
from qandu.http.api import api
from qandu.http.routing import Call, Result, authenticate

_FILES = "files"

#: Served files can never run script or load anything, even when opened directly.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _upload(upload: Upload, *, audit: bool = False) -> dict[str, Any]:
    return {"upload": upload.to_wire(audit=audit), "attachment": upload.attachment().to_wire()}


def _content_length(call: Call) -> int | None:
    raw = call.request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest("Content-Length: not a number", field="Content-Length")
    return int(raw)


LINGER_BYTES = 1 << 20
LINGER_SECONDS = 1.0


async def _linger(chunks: AsyncIterator[bytes]) -> None:
    """Read and drop a bounded rest of a refused body before answering 413.

    A server that answers and closes while the client is still sending makes the kernel reset
    the connection, and the client sees "disconnected" instead of the error (nginx's
    "lingering close" solves the same problem). Past the bound the connection is cut anyway.
    """
    drained = 0
    with trio.move_on_after(LINGER_SECONDS):
        async for chunk in chunks:
            drained += len(chunk)
            if drained > LINGER_BYTES:
                return


@api.operation(
    "POST",
    "/api/files",
    tag=_FILES,
    query=s.UPLOAD_QUERY,
    stream_body=s.UPLOAD_BODY,
    responses={
        201: ("Received, scanned and kept: send it with attachments: [upload.id].", s.UPLOAD_RESPONSE)
    },
    errors=(403, 404, 409),
)
async def upload_file(call: Call) -> Result:
    """Upload a file to a conversation, then send it in a message (``attachments: [id]``).

    The body is the file itself (its ``Content-Type`` is the declared type; ``name`` is
    required), or ``multipart/form-data`` with one part named ``file``.  It is streamed to
    disk and cut off with 413 as soon as it passes the limit.  The type is sniffed from the
    bytes; the file is scanned before this returns.  A rejected file is quarantined and
    answered with 422 ``rejected`` and the reason.
    """
    app, user, query = call.app, call.me, call.query
    files = app.files
    files.require_enabled()
    conversation = await app.chat.readable(user, query["conversationId"])
    if conversation.status == "archived":
        raise Conflict("conversation is archived; start a new one", field="conversationId")
    boundary = multipart_boundary(call.request.headers.get("content-type", ""))
    if boundary is None and "name" not in query:
        raise InvalidRequest("name: required for a raw upload (or send multipart/form-data)", field="name")
    limit = await files.limit_for(user, conversation)
    length = _content_length(call)
    chunks = call.request.stream()
    if length is not None and length > limit + (MULTIPART_OVERHEAD if boundary else 0):
        await _linger(chunks)
        raise too_large(limit)
    upload_id = files.new_id()
    progress = files.progress(user, conversation, upload_id, None if boundary else length)
    progress.name = sanitize_filename(query["name"]) if "name" in query else None
    status = "failed"
    try:
        async with files.spool() as spool:
            if boundary is not None:
                part = await receive_multipart(chunks, boundary, spool, limit, progress)
                name, declared = query.get("name", part.filename), part.content_type
            else:
                await receive_raw(chunks, spool, limit, progress)
                name, declared = query["name"], call.request.headers.get("content-type")
            upload = await files.accept(
                user, conversation, spool, upload_id=upload_id, name=name, declared_type=declared
            )
        status = "clean"
    except FileTooLarge:
        await _linger(chunks)
        raise
    except FileRejected:
        status = "quarantined"
        raise
    finally:
        progress.finished(status)
    return 201, _upload(upload)


@api.operation(
    "GET",
    "/api/files",
    tag=_FILES,
    query=s.LIST_QUERY,
    responses={200: ("Uploads, newest first, with their verdicts.", s.UPLOADS_RESPONSE)},
    errors=(403,),
)
async def list_files(call: Call) -> Result:
    """List uploads with their verdicts, for audit (admins): ``status=quarantined`` shows rejections."""
    if call.me.role != "admin":
        raise Forbidden("only admins may list uploads")
    call.app.files.require_enabled()
    query = call.query
    before = None
    if "before" in query:
        try:
            before = dt.datetime.fromisoformat(query["before"].replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequest("before: not an ISO 8601 timestamp", field="before") from None
    page = await call.app.files.list_uploads(
        status=query.get("status"),
        conversation_id=query.get("conversationId"),
        before=before,
        limit=query["limit"] + 1,
    )
    more = len(page) > query["limit"]
    page = page[: query["limit"]]
    return {
        "uploads": [upload.to_wire(audit=True) for upload in page],
        "nextBefore": iso(page[-1].created_at) if more else None,
    }


@api.operation(
    "GET",
    "/api/files/{uploadId}",
    tag=_FILES,
    responses={200: ("The upload (admins also get its verdicts).", s.UPLOAD_RESPONSE)},
    errors=(403, 404),
)
async def get_file(call: Call) -> Result:
    """Read an upload's metadata (name, size, type, status, thumbnail)."""
    upload = await call.app.files.fetch(call.me, call.params["uploadId"])
    return _upload(upload, audit=call.me.role == "admin")


@api.operation(
    "GET",
    "/api/files/{uploadId}/link",
    tag=_FILES,
    responses={200: ("Signed URLs that work without an Authorization header.", s.LINK_RESPONSE)},
    errors=(403, 404),
)
async def file_link(call: Call) -> Result:
    """Get short-lived signed URLs of a file and its thumbnail (for ``<img src>`` and downloads).

    The URLs act as the caller, are checked again when used, and expire after ``[files]
    link_ttl`` seconds.
    """
    upload = await call.app.files.fetch(call.me, call.params["uploadId"])
    link = call.app.files.link(call.me, upload)
    return {"url": link.url, "thumbnailUrl": link.thumbnail_url, "expiresAt": iso(link.expires_at)}


async def _viewer_upload(call: Call) -> Upload:
    """Authenticate with the bearer header or a signed link, then check access to the upload."""
    upload_id = call.params["uploadId"]
    if call.request.headers.get("authorization"):
        user = await authenticate(call.app, call.request)
    elif "sig" in call.query:
        user = await call.app.files.link_user(call.query["sig"], upload_id)
    else:
        raise Unauthorized("send Authorization: Bearer <token>, or use a signed link (?sig=)")
    return await call.app.files.fetch(user, upload_id)


def _file_response(call: Call, key: str, media_type: str, headers: dict[str, str]) -> Response:
    blobs = call.app.files.blobs
    path = blobs.local_path(key)
    if path is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    return StreamingResponse(blobs.stream(key), media_type=media_type, headers=headers)


def _safe_headers(disposition: str, etag: str) -> dict[str, str]:
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_CSP,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, max-age=300",
        "ETag": f'"{etag}"',
    }


@api.operation(
    "GET",
    "/api/files/{uploadId}/content",
    tag=_FILES,
    auth=False,
    query=s.CONTENT_QUERY,
    responses={},
    raw_responses={
        200: ("The file's bytes.", s.BINARY),
        206: ("A requested range (Range header).", s.BINARY),
    },
    errors=(401, 403, 404),
)
async def download_file(call: Call) -> Result:
    """Download a file (bearer token, or a signed link's ``sig``).

    Raster images are served inline, everything else as an attachment; every response says
    ``X-Content-Type-Options: nosniff`` and carries a sandboxing Content-Security-Policy.
    Admins may fetch quarantined files: always as ``application/octet-stream`` attachments.
    """
    upload = await _viewer_upload(call)
    if upload.storage_key is None:
        raise NotFound(f"upload {upload.id} has no stored content", field="uploadId")
    media_type = upload.mime_type if upload.status == "clean" else OCTET_STREAM
    inline = media_type in INLINE_IMAGE_TYPES and not call.query.get("download", False)
    headers = _safe_headers(content_disposition(upload.name, inline=inline), upload.sha256)
    return _file_response(call, upload.storage_key, media_type, headers)


@api.operation(
    "GET",
    "/api/files/{uploadId}/thumbnail",
    tag=_FILES,
    auth=False,
    query=s.THUMBNAIL_QUERY,
    responses={},
    raw_responses={200: ("A WebP thumbnail for the chat view.", s.THUMBNAIL)},
    errors=(401, 403, 404),
)
async def file_thumbnail(call: Call) -> Result:
    """Get an image's thumbnail (at most ``[files] thumbnail_px`` on its longer side)."""
    upload = await _viewer_upload(call)
    if upload.thumbnail_key is None or upload.status != "clean":
        raise NotFound(f"upload {upload.id} has no thumbnail", field="uploadId")
    stem = upload.name.rsplit(".", 1)[0] if "." in upload.name else upload.name
    headers = _safe_headers(content_disposition(f"{stem}.webp", inline=True), upload.thumbnail_key[-64:])
    return _file_response(call, upload.thumbnail_key, THUMBNAIL_TYPE, headers)
