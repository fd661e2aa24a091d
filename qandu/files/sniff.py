"""The type of an upload, from its bytes (``filetype``), checked against what the client claimed.

A client claims a type twice: the ``Content-Type`` it sent and the extension of the name.
The bytes win.  When a recognisable format contradicts a claim (a PE executable called
``invoice.pdf``, a JPEG sent as ``image/png`` with a ``.png`` name) the upload is rejected or,
with ``[files] mime_mismatch = "correct"``, served as what it really is.  Text has no magic
number: text content keeps a harmless declared text type (plain, CSV, JSON...) and anything
active (HTML, SVG, JavaScript, XML) is served as ``text/plain``.
"""

from __future__ import annotations

import codecs
import mimetypes
from typing import Literal

import attrs
import filetype

from qandu.domain import AttachmentType

#: Bytes from the start of a file that sniffing looks at.
SNIFF_BYTES = 65536
OCTET_STREAM = "application/octet-stream"
GENERIC_TYPES = frozenset(
    {"", OCTET_STREAM, "binary/octet-stream", "application/unknown", "application/binary"}
)

#: Different spellings of one type, mapped to the one ``filetype`` reports.
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/vnd.microsoft.icon": "image/x-icon",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/wav": "audio/x-wav",
    "audio/wave": "audio/x-wav",
    "audio/vnd.wave": "audio/x-wav",
    "audio/flac": "audio/x-flac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/aiff": "audio/x-aiff",
    "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
    "video/mkv": "video/x-matroska",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "application/x-gzip": "application/gzip",
    "application/x-rar": "application/x-rar-compressed",
    "application/vnd.rar": "application/x-rar-compressed",
    "application/x-dosexec": "application/x-msdownload",
    "application/vnd.microsoft.portable-executable": "application/x-msdownload",
    "application/x-elf": "application/x-executable",
}

#: Formats that are ZIP archives inside: ``filetype`` may only see "zip" (or mix them up).
ZIP_FAMILY = frozenset(
    {
        "application/zip",
        "application/epub+zip",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)
#: Legacy Office files share one container (OLE2), so their sniffed types are interchangeable.
OLE_FAMILY = frozenset(
    {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint", "application/x-msi"}
)
#: Text types served as themselves; every other text is served as ``text/plain``.
SAFE_TEXT_TYPES = frozenset(
    {
        "text/plain",
        "text/csv",
        "text/markdown",
        "text/tab-separated-values",
        "application/json",
        "text/calendar",
    }
)
#: Text that a browser could execute or render actively: never claimed as an image or document.
ACTIVE_TEXT_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/javascript",
        "application/javascript",
        "text/xml",
        "application/xml",
    }
)
#: Raster images a browser may show inline (everything else is served as a download).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif"})

_BUILTIN_TYPES = mimetypes.MimeTypes()  # Python's own table only, not /etc/mime.types


def normalize(mime: str | None) -> str:
    """Lower-case, parameters dropped, aliases resolved (``image/JPG; q=1`` -> ``image/jpeg``)."""
    if not mime:
        return ""
    base = mime.split(";", 1)[0].strip().lower()
    return ALIASES.get(base, base)


def type_of_extension(extension: str) -> str:
    """The type a file extension claims ('' if unknown)."""
    if not extension:
        return ""
    kind = filetype.get_type(ext=extension.lower())
    if kind is not None and kind.mime != OCTET_STREAM:
        return normalize(kind.mime)
    guessed, _ = _BUILTIN_TYPES.guess_type(f"x.{extension.lower()}", strict=False)
    return normalize(guessed)


def sniff(head: bytes) -> str | None:
    """The type recognised from a file's first bytes, or ``None`` (text, or an unknown format)."""
    kind = filetype.guess(head[:SNIFF_BYTES])
    return normalize(kind.mime) if kind is not None else None


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f\b\x1b") + b"\x7f"


def looks_like_text(head: bytes) -> bool:
    """Text in any common encoding: UTF-16 with a byte-order mark, or no NUL and at most 1% control bytes.

    (Legacy 8-bit encodings such as Windows-1252 CSV exports count as text too.)
    """
    if not head:
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            head[: len(head) // 2 * 2].decode("utf-16")
        except UnicodeDecodeError:
            return False
        return True
    if b"\x00" in head:
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls * 100 <= len(head)


def attachment_kind(mime: str) -> AttachmentType:
    """The product's attachment type for a MIME type."""
    major = mime.split("/", 1)[0]
    if major in ("image", "audio", "video"):
        return major  # type: ignore[return-value]
    return "document"


def _compatible(claimed: str, actual: str) -> bool:
    if claimed == actual:
        return True
    if claimed in ZIP_FAMILY and actual in ZIP_FAMILY:
        return True
    return claimed in OLE_FAMILY and actual in OLE_FAMILY


def _detectable(mime: str) -> bool:
    """True if ``filetype`` would recognise a file of this type from its bytes."""
    return any(normalize(kind.mime) == mime for kind in filetype.TYPES)


@attrs.frozen
class TypeDecision:
    """The type an upload is stored and served as; ``mismatch`` explains a contradicted claim."""

    mime_type: str
    kind: AttachmentType
    mismatch: str | None = None
    sniffed: str | None = None


def decide_type(head: bytes, *, declared: str | None, extension: str) -> TypeDecision:
    """Decide an upload's type from its first bytes and the client's two claims."""
    sniffed = sniff(head)
    claims = [c for c in (normalize(declared), type_of_extension(extension)) if c not in GENERIC_TYPES]
    if sniffed is not None:
        final = sniffed
        for claim in claims:
            if not _compatible(claim, sniffed):
                return _decision(sniffed, f"the content is {sniffed}, not {claim} as declared", sniffed)
            generic = sniffed == "application/zip" or sniffed in OLE_FAMILY
            if generic and final == sniffed and claim != sniffed:
                final = claim  # more specific than the container the bytes show
        return _decision(final, None, sniffed)
    if looks_like_text(head):
        for claim in claims:
            if not (claim.startswith("text/") or claim in SAFE_TEXT_TYPES or claim in ACTIVE_TEXT_TYPES):
                return _decision("text/plain", f"the content is text, not {claim} as declared", None)
        safe = [claim for claim in claims if claim in SAFE_TEXT_TYPES]
        return _decision(safe[0] if safe else "text/plain", None, None)
    for claim in claims:
        if _detectable(claim) or claim in ACTIVE_TEXT_TYPES or claim.startswith("text/"):
            return _decision(OCTET_STREAM, f"the content is not {claim} as declared", None)
    return _decision(claims[0] if claims else OCTET_STREAM, None, None)


def _decision(mime: str, mismatch: str | None, sniffed: str | None) -> TypeDecision:
    return TypeDecision(mime_type=mime, kind=attachment_kind(mime), mismatch=mismatch, sniffed=sniffed)


MismatchMode = Literal["reject", "correct"]
