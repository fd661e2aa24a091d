"""Deciding an upload's type from its bytes and the client's claims."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qandu.files import testing as samples
from qandu.files.sniff import ACTIVE_TEXT_TYPES, decide_type, looks_like_text, normalize

SAMPLES = {
    "image/png": (samples.png(16, 16), "png"),
    "image/jpeg": (samples.jpeg(), "jpg"),
    "application/pdf": (samples.pdf(), "pdf"),
    "application/x-msdownload": (samples.windows_executable(), "exe"),
    "application/x-executable": (samples.linux_executable(), "elf"),
}


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.mark.parametrize("mime", sorted(SAMPLES))
def test_honest_files_keep_their_type(mime: str) -> None:
    data, ext = SAMPLES[mime]
    decision = decide_type(data, declared=mime, extension=ext)
    assert (decision.mime_type, decision.mismatch, decision.sniffed) == (mime, None, mime)


@pytest.mark.parametrize(
    ("data", "declared", "ext", "sniffed"),
    [
        (samples.windows_executable(), "application/pdf", "pdf", "application/x-msdownload"),
        (samples.windows_executable(), "application/octet-stream", "pdf", "application/x-msdownload"),
        (samples.linux_executable(), None, "jpg", "application/x-executable"),
        (samples.jpeg(), "image/png", "png", "image/jpeg"),
        (samples.png(8, 8), None, "gif", "image/png"),
    ],
)
def test_bytes_that_contradict_a_claim_are_a_mismatch(data, declared, ext, sniffed) -> None:
    decision = decide_type(data, declared=declared, extension=ext)
    assert decision.mismatch is not None and decision.mime_type == sniffed == decision.sniffed


def test_aliases_and_parameters_are_not_mismatches() -> None:
    assert decide_type(samples.jpeg(), declared="image/JPG; q=1", extension="jpeg").mismatch is None
    assert normalize("Audio/MP3") == "audio/mpeg"


def test_zip_based_office_files_keep_their_specific_type() -> None:
    decision = decide_type(docx(), declared="application/zip", extension="docx")
    assert decision.mismatch is None
    assert decision.mime_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_text_is_never_served_as_something_active() -> None:
    for declared, ext in [("text/html", "html"), ("image/svg+xml", "svg"), ("application/javascript", "js")]:
        decision = decide_type(b"<script>alert(1)</script>", declared=declared, extension=ext)
        assert (decision.mime_type, decision.mismatch) == ("text/plain", None)
    csv = decide_type("Grüße;1\n".encode("cp1252"), declared="text/csv", extension="csv")
    assert (csv.mime_type, csv.kind, csv.mismatch) == ("text/csv", "document", None)
    fake_image = decide_type(b"just words", declared="image/png", extension="png")
    assert fake_image.mismatch is not None and fake_image.kind == "document"


def test_unknown_binary_keeps_an_unverifiable_declared_type_but_not_a_checkable_one() -> None:
    blob = bytes(range(256)) * 4
    assert (
        decide_type(blob, declared="application/x-custom", extension="dat").mime_type
        == "application/x-custom"
    )
    assert decide_type(blob, declared="image/png", extension="").mismatch is not None


def test_text_detection() -> None:
    assert looks_like_text("plain ünicode\n".encode())
    assert looks_like_text("utf-16 text".encode("utf-16"))
    assert not looks_like_text(samples.png(4, 4))
    assert not looks_like_text(b"")


@given(
    st.binary(max_size=2048),
    st.sampled_from([None, "", "image/png", "text/html", "application/pdf"]),
    st.sampled_from(["", "png", "html", "pdf", "exe", "txt"]),
)
def test_any_input_gives_a_safe_decision(data: bytes, declared: str | None, ext: str) -> None:
    decision = decide_type(data, declared=declared, extension=ext)
    assert decision.mime_type not in ACTIVE_TEXT_TYPES
    assert decision.kind in ("image", "document", "audio", "video")
    if decision.kind == "image":
        assert decision.sniffed is not None or decision.mime_type == normalize(declared)


def test_a_plain_zip_takes_the_specific_zip_based_type_claimed() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "x")
    decision = decide_type(out.getvalue(), declared="application/octet-stream", extension="xlsx")
    assert decision.sniffed == "application/zip" and decision.mismatch is None
    assert decision.mime_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert decide_type(docx(), declared="application/zip", extension="zip").mime_type.endswith("document")
