"""File-name sanitising and Content-Disposition: properties over arbitrary (hostile) names."""

from __future__ import annotations

import unicodedata
from urllib.parse import unquote

from hypothesis import assume, example, given
from hypothesis import strategies as st

from qandu.files.names import MAX_NAME_BYTES, ascii_fallback, content_disposition, sanitize_filename

#: Names made of the characters that cause trouble, mixed with ordinary ones.
_NASTY = st.sampled_from(
    [
        *"/\\.:*?\"<>|;%'\x00\r\n\t \u202e\u202d\u2066\u200b\ufeff\u0301\ud7ff\ue000",
        "..",
        "CON",
        "nul",
        "COM1",
    ]
)
names = st.lists(st.text(max_size=12) | _NASTY, max_size=20).map("".join) | st.text(max_size=3000)
extensions = st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)
#: Windows device names: a file named ``COM0.txt`` cannot be saved there (they get a ``_``).
DEVICES = {"con", "prn", "aux", "nul", *(f"{port}{i}" for port in ("com", "lpt") for i in range(10))}


@given(names)
@example("../../etc/passwd\r\n.png")
@example("x" * 2000 + ".png")
@example("\u202egnp.exe")
@example("e\u200d\u0301.txt")
@example("COM0.0")
def test_sanitised_names_are_safe(name: str) -> None:
    clean = sanitize_filename(name)
    assert clean and len(clean.encode("utf-8")) <= MAX_NAME_BYTES
    assert "/" not in clean and "\\" not in clean
    assert not clean.startswith((".", " ")) and not clean.endswith((".", " "))
    assert clean not in (".", "..")
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in clean)
    assert not any(c in '<>:"|?*' for c in clean)
    assert clean.split(".")[0].lower() not in DEVICES
    assert unicodedata.is_normalized("NFC", clean)


@given(names)
def test_sanitising_twice_changes_nothing(name: str) -> None:
    once = sanitize_filename(name)
    assert sanitize_filename(once) == once


@given(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=40), extensions)
def test_ordinary_names_are_kept(stem: str, ext: str) -> None:
    assume(stem.lower() not in DEVICES)
    name = unicodedata.normalize("NFC", f"{stem}.{ext}")
    assert sanitize_filename(name) == name


@given(st.text(st.characters(categories=["L", "N"]), min_size=300, max_size=900), extensions)
def test_long_names_keep_their_extension(stem: str, ext: str) -> None:
    clean = sanitize_filename(f"{stem}.{ext}")
    assert clean.endswith(f".{ext}") and len(clean.encode()) <= MAX_NAME_BYTES


@given(names, st.booleans())
def test_content_disposition_is_one_ascii_header_value_that_round_trips(name: str, inline: bool) -> None:
    clean = sanitize_filename(name)
    header = content_disposition(clean, inline=inline)
    assert header.isascii() and "\r" not in header and "\n" not in header
    kind, fallback_part, star_part = header.split("; ")
    assert kind == ("inline" if inline else "attachment")
    fallback = fallback_part.removeprefix('filename="').removesuffix('"')
    assert '"' not in fallback and "\\" not in fallback and fallback == ascii_fallback(clean)
    assert unquote(star_part.removeprefix("filename*=UTF-8''")) == clean
