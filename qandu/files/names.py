"""File names from clients made safe to store, show and put in a ``Content-Disposition`` header.

A hostile name may carry path components (``../../etc/passwd``), control characters (CR/LF
for header injection, NUL), invisible format characters (the right-to-left override that
shows ``exe.pdf`` as ``fdp.exe``), Windows device names, trailing dots, or thousands of
characters.  :func:`sanitize_filename` keeps the visible meaning of ordinary names in every
script and removes all of that.  (``pathvalidate`` was tried: it keeps bidi overrides and
``..`` and cuts the extension off long names, so the rules are written out here.)
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

#: Longest sanitised name, in bytes of UTF-8 (file systems allow 255).
MAX_NAME_BYTES = 200
#: Longest extension kept whole when a long name is shortened.
MAX_EXTENSION_CHARS = 16
DEFAULT_NAME = "file"

# Cc control, Cf format (bidi overrides, zero-width, BOM), Cs surrogates, Co private use, Cn unassigned.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_RESERVED = re.compile(r'[<>:"/\\|?*]')
_SPACES = re.compile(r"\s+")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{i}" for i in range(10)}
    | {f"lpt{i}" for i in range(10)}
)
_EXTENSION = re.compile(rf"\.([A-Za-z0-9]{{1,{MAX_EXTENSION_CHARS}}})$")


def _visible(char: str) -> bool:
    return unicodedata.category(char) not in _DROP_CATEGORIES


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def sanitize_filename(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Return a safe display/storage name for ``name`` (never empty, at most ``max_bytes``).

    Rules: Unicode NFC; only the last path component (``/`` or ``\\``); whitespace runs
    (tabs, newlines...) become one space; control, format, private-use and unassigned
    characters are dropped; ``< > : " | ? *`` become ``_``; leading dots and spaces and
    trailing dots and spaces go; Windows device names get a ``_`` prefix; long names are cut
    to ``max_bytes`` keeping a short extension.  Applying it twice changes nothing.
    """
    text = unicodedata.normalize("NFC", name)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(" " if char.isspace() else char for char in text if char.isspace() or _visible(char))
    text = _SPACES.sub(" ", text)
    text = _RESERVED.sub("_", text)
    text = text.strip(" .")
    if text.split(".", 1)[0].strip(" ").lower() in _WINDOWS_DEVICES:
        text = "_" + text
    if len(text.encode("utf-8")) > max_bytes:
        match = _EXTENSION.search(text)
        ext = match.group(0) if match else ""
        stem = _truncate_utf8(text[: len(text) - len(ext)], max_bytes - len(ext)).rstrip(" .")
        text = stem + ext if stem else DEFAULT_NAME + ext
    if not text or text.startswith("."):
        text = DEFAULT_NAME + text
    # NFC of the result can differ once characters were removed between combining marks.
    normalized = unicodedata.normalize("NFC", text)
    return normalized if normalized == text else sanitize_filename(normalized, max_bytes=max_bytes)


def ascii_fallback(name: str) -> str:
    """An ASCII-only rendering of ``name`` for old clients (the ``filename=`` parameter)."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = (c for c in decomposed if not unicodedata.combining(c))
    text = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%;' else "_" for c in kept)
    text = re.sub(r"_+", "_", text).strip(" ")
    stem, dot, ext = text.rpartition(".")
    if dot and not stem.strip("_ ."):
        return f"{DEFAULT_NAME}.{ext}" if ext.strip("_ ") else DEFAULT_NAME
    return text if text.strip("_ .") else DEFAULT_NAME


def content_disposition(name: str, *, inline: bool) -> str:
    """The ``Content-Disposition`` value for serving ``name`` (RFC 6266 with RFC 8187 ``filename*``)."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
