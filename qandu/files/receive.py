"""Read an upload's body into a :class:`~qandu.files.blobs.SpoolFile` as it streams in.

Two encodings: the raw body (``Content-Type`` is the file's type), or ``multipart/form-data``
with one file part named ``file`` (what a browser's ``FormData`` sends).  Both stop with
413 the moment the file passes the limit; nothing is buffered beyond one network chunk
plus the spool's write batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import attrs
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from qandu.errors import InvalidRequest, QanduError
from qandu.files.blobs import SpoolFile

#: Room for the multipart envelope (boundaries and part headers) on top of the file itself.
MULTIPART_OVERHEAD = 16384
_MAX_HEADER_BYTES = 8192


class Progress(Protocol):
    def __call__(self, received: int, *, final: bool = False) -> None: ...


class FileTooLarge(QanduError):
    """The upload passed its size limit (413, like ``[http] max_body_bytes``)."""

    code = "too_large"
    http_status = 413


def too_large(limit: int) -> FileTooLarge:
    return FileTooLarge(f"file: larger than the maximum of {limit} bytes ({_human(limit)})", field="file")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


async def receive_raw(chunks: AsyncIterator[bytes], spool: SpoolFile, limit: int, progress: Progress) -> None:
    """Copy the raw body into ``spool``; raise 413 as soon as it passes ``limit`` bytes."""
    async for chunk in chunks:
        if not chunk:
            continue
        if spool.size + len(chunk) > limit:
            raise too_large(limit)
        await spool.write(chunk)
        progress(spool.size)
    progress(spool.size, final=True)


@attrs.define
class FilePart:
    """What the multipart envelope said about the file."""

    filename: str | None = None
    content_type: str | None = None
    found: bool = False


@attrs.define
class _State:
    header_field: bytearray = attrs.Factory(bytearray)
    header_value: bytearray = attrs.Factory(bytearray)
    headers: dict[str, bytes] = attrs.Factory(dict)
    header_bytes: int = 0
    in_file: bool = False
    data: bytearray = attrs.Factory(bytearray)
    parts: int = 0


def multipart_boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` content type, or ``None`` if it is not one."""
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest("Content-Type: multipart/form-data without a boundary", field="Content-Type")
    return boundary


async def receive_multipart(
    chunks: AsyncIterator[bytes], boundary: bytes, spool: SpoolFile, limit: int, progress: Progress
) -> FilePart:
    """Copy the one file part of a ``multipart/form-data`` body into ``spool``."""
    part = FilePart()
    state = _State()

    def on_part_begin() -> None:
        state.parts += 1
        state.headers, state.header_bytes, state.in_file = {}, 0, False
        if part.found:
            raise InvalidRequest("file: send exactly one part, named file", field="file")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]
        _count(end - start)

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]
        _count(end - start)

    def _count(size: int) -> None:
        state.header_bytes += size
        if state.header_bytes > _MAX_HEADER_BYTES:
            raise InvalidRequest("file: part headers too long", field="file")

    def on_header_end() -> None:
        name = state.header_field.decode("latin-1").strip().lower()
        state.headers[name] = bytes(state.header_value)
        state.header_field, state.header_value = bytearray(), bytearray()

    def on_headers_finished() -> None:
        disposition, options = parse_options_header(state.headers.get("content-disposition", b""))
        field_name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if disposition != b"form-data" or field_name != "file":
            shown = field_name or "(unnamed)"
            raise InvalidRequest(
                f"file: unexpected form field {shown!r}; send one part named file", field="file"
            )
        filename = options.get(b"filename")
        part.filename = filename.decode("utf-8", errors="replace") if filename is not None else None
        content_type = state.headers.get("content-type")
        part.content_type = content_type.decode("latin-1") if content_type is not None else None
        part.found = state.in_file = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.in_file:
            state.data += data[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit + MULTIPART_OVERHEAD:
            raise too_large(limit)
        parser.write(chunk)
        if state.data:
            if spool.size + len(state.data) > limit:
                raise too_large(limit)
            data, state.data = bytes(state.data), bytearray()
            await spool.write(data)
            progress(spool.size)
    parser.finalize()
    if not part.found:
        raise InvalidRequest("file: no part named file in the form", field="file")
    if parser.state != MultipartState.END:
        raise InvalidRequest("file: the form ends before its closing boundary", field="file")
    progress(spool.size, final=True)
    return part
