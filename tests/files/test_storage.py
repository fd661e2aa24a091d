"""The content-addressed file store, the spool file and the streaming body readers."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from qandu.errors import InvalidRequest
from qandu.files.blobs import SPOOL_STALE, LocalFileStore, SpoolFile, sweep_spool
from qandu.files.receive import FileTooLarge, receive_multipart, receive_raw


async def chunks_of(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def no_progress(received: int, *, final: bool = False) -> None:
    pass


async def spooled(tmp_path: Path, data: bytes) -> tuple[SpoolFile, str]:
    async with SpoolFile(tmp_path / "tmp") as spool:
        await receive_raw(chunks_of(data), spool, 10**9, no_progress)
        digest = await spool.finish()
    return spool, digest


async def test_files_are_stored_once_under_their_sha256(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    data = b"hello world" * 1000
    first, digest = await spooled(tmp_path, data)
    assert digest == hashlib.sha256(data).hexdigest() and first.head == data[:65536]
    key = await store.put(first.path, sha256=digest, area="blobs")
    assert key == f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
    assert not first.path.exists()
    second, _ = await spooled(tmp_path, data)
    assert await store.put(second.path, sha256=digest, area="blobs") == key
    assert not second.path.exists() and list((tmp_path / "tmp").iterdir()) == []
    assert b"".join([chunk async for chunk in store.stream(key)]) == data
    assert await store.exists(key)
    await store.delete(key)
    assert not await store.exists(key)


async def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    for key in ["../etc/passwd", "blobs/../../x", "blobs/ab/cd/" + "g" * 64, "/abs"]:
        with pytest.raises(ValueError):
            store.local_path(key)
    with pytest.raises(ValueError):
        await store.put_bytes(b"x", area="../up")


async def test_an_aborted_spool_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileTooLarge):
        async with SpoolFile(tmp_path) as spool:
            await receive_raw(chunks_of(b"x" * 5000), spool, 3000, no_progress)
    assert list(tmp_path.iterdir()) == []
    left, busy = tmp_path / "left.part", tmp_path / "busy.part"
    left.write_bytes(b"x")
    busy.write_bytes(b"y")  # another node's upload in progress (a shared files directory)
    an_hour_ago = time.time() - SPOOL_STALE - 1
    os.utime(left, (an_hour_ago, an_hour_ago))
    assert sweep_spool(tmp_path) == 1 and list(tmp_path.iterdir()) == [busy]


def form(parts: list[tuple[str, str | None, str, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, filename, content_type, body in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        out += head.encode()
        out += body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


async def test_multipart_file_part_is_streamed_into_the_spool(tmp_path: Path) -> None:
    body = form([("file", "a.pdf", "application/pdf", b"%PDF-1.4 " + b"z" * 50_000)])
    async with SpoolFile(tmp_path) as spool:
        part = await receive_multipart(chunks_of(body, 777), b"b0undary", spool, 10**6, no_progress)
        await spool.finish()
    assert (part.filename, part.content_type) == ("a.pdf", "application/pdf")
    assert spool.path.read_bytes() == b"%PDF-1.4 " + b"z" * 50_000


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (form([("note", None, "text/plain", b"hi")]), InvalidRequest),
        (form([("file", "a", "text/plain", b"1"), ("file", "b", "text/plain", b"2")]), InvalidRequest),
        (form([("file", "a.bin", "application/octet-stream", b"x" * 5000)]), FileTooLarge),
        (b"--b0undary--\r\n", InvalidRequest),
        (form([("file", "a.bin", "text/plain", b"abc")])[:-16], InvalidRequest),
    ],
)
async def test_bad_multipart_bodies_are_refused(tmp_path: Path, body: bytes, error: type) -> None:
    with pytest.raises(error):
        async with SpoolFile(tmp_path) as spool:
            await receive_multipart(chunks_of(body, 100), b"b0undary", spool, 4000, no_progress)
    assert list(tmp_path.iterdir()) == []


class Uploads:
    """Which stored files uploads use, and a way to upload the same bytes again."""

    def __init__(self, tmp_path: Path, store: LocalFileStore) -> None:
        self.tmp_path, self.store = tmp_path, store
        self.used: set[str] = set()

    async def upload(self, data: bytes) -> str:
        """Record an upload of ``data`` (its key is in use from now on), then store its bytes."""
        spool, digest = await spooled(self.tmp_path, data)
        self.used.add(LocalFileStore.key_for(digest, "blobs"))
        return await self.store.put(spool.path, sha256=digest, area="blobs")

    async def in_use(self, key: str) -> bool:
        return key in self.used


async def test_collect_deletes_a_file_only_when_no_upload_uses_it(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    uploads = Uploads(tmp_path, store)
    key = await uploads.upload(b"kept")
    assert await store.collect(key, uploads.in_use) is False and await store.exists(key)
    uploads.used.clear()
    assert await store.collect(key, uploads.in_use) is True and not await store.exists(key)
    assert await store.collect(key, uploads.in_use) is False  # already gone
    assert list((tmp_path / "files" / "trash").iterdir()) == []


async def test_collect_never_loses_the_bytes_of_an_upload_made_meanwhile(tmp_path: Path) -> None:
    """The same bytes are uploaded again at the worst moments of a collect."""
    store = LocalFileStore(tmp_path / "files")
    uploads = Uploads(tmp_path, store)
    data = b"the same file, uploaded twice"
    key = await uploads.upload(data)
    uploads.used.clear()

    async def answer_then_upload(asked: str) -> bool:  # recorded just after the question
        answer = await uploads.in_use(asked)
        await uploads.upload(data)
        return answer

    await store.collect(key, answer_then_upload)
    assert await store.exists(key)
    uploads.used.clear()

    async def upload_then_answer(asked: str) -> bool:  # stored between the move and the question
        await uploads.upload(data)
        return await uploads.in_use(asked)

    assert await store.collect(key, upload_then_answer) is False
    assert await store.exists(key)
    assert list((tmp_path / "files" / "trash").iterdir()) == []
