"""Where file bytes live: a small :class:`FileStore` interface and its local, content-addressed form.

An upload is first spooled to a temporary file on local disk (:class:`SpoolFile`), hashed
while it streams in; scanners read that local file.  Only then is it handed to the
:class:`FileStore`, under its SHA-256: ``<root>/<area>/ab/cd/abcd...``.  Identical files are
stored once per area.  Areas keep served files (``blobs``), quarantined ones
(``quarantine``) and thumbnails (``thumbs``) apart.  An object store (S3...) can implement
the same interface later; the spool stays local.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import trio

#: Bytes collected before one write to disk (one thread hop per flush).
FLUSH_BYTES = 1 << 20
READ_CHUNK = 1 << 16
#: Received bytes are flushed to disk every this many bytes, not in one burst at the end.
SYNC_BYTES = 4 << 20
AREAS = ("blobs", "quarantine", "thumbs")
_KEY = re.compile(r"(blobs|quarantine|thumbs)/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")
#: A file :meth:`LocalFileStore.collect` moved aside: ``<area>.<sha256>.<random>``.
_ASIDE = re.compile(r"(blobs|quarantine|thumbs)\.([0-9a-f]{64})\.[0-9a-f]{16}")

#: ``in_use(key)``: whether some upload still needs the stored file ``key``.
InUse = Callable[[str], Awaitable[bool]]


class FileStore(Protocol):
    """Durable storage of finished files, addressed by an opaque key."""

    async def put(self, source: Path, *, sha256: str, area: str) -> str:
        """Take the finished file ``source`` (it is moved or deleted) and return its key."""

    async def put_bytes(self, data: bytes, *, area: str) -> str:
        """Store small ``data`` (a thumbnail) and return its key."""

    def local_path(self, key: str) -> Path | None:
        """The file on local disk for ``key``, if this store keeps one (for zero-copy serving)."""

    def stream(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes of ``key``, in chunks."""

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def collect(self, key: str, in_use: InUse) -> bool:
        """Delete ``key`` unless ``in_use(key)``, safely against a concurrent ``put`` of the same
        bytes (whose upload is recorded before it stores them); return whether it was deleted."""

    async def collect_leftovers(self, in_use: InUse) -> int:
        """Finish what an interrupted :meth:`collect` left (delete, or put back if in use)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalFileStore:
    """A :class:`FileStore` in a local directory, content-addressed, written by atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    @staticmethod
    def key_for(sha256: str, area: str) -> str:
        if area not in AREAS or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"bad area or digest: {area!r}, {sha256!r}")
        return f"{area}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    async def put(self, source: Path, *, sha256: str, area: str) -> str:
        key = self.key_for(sha256, area)
        await trio.to_thread.run_sync(self._move_in, source, self._path(key))
        return key

    def _move_in(self, source: Path, target: Path) -> None:
        if target.exists():
            source.unlink(missing_ok=True)  # the same bytes are already stored
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)

    async def put_bytes(self, data: bytes, *, area: str) -> str:
        key = self.key_for(hashlib.sha256(data).hexdigest(), area)
        await trio.to_thread.run_sync(self._write_new, self._path(key), data)
        return key

    def _write_new(self, target: Path, data: bytes) -> None:
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            with temp.open("wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async with await trio.open_file(self._path(key), "rb") as file:
            while chunk := await file.read(READ_CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        return await trio.to_thread.run_sync(self._path(key).exists)

    async def delete(self, key: str) -> None:
        await trio.to_thread.run_sync(lambda: self._path(key).unlink(missing_ok=True))

    # -- garbage collection ----------------------------------------------------------------
    #
    # An upload is recorded (its row committed) before its bytes are stored.  ``collect``
    # moves the file aside (an atomic rename) *before* asking whether it is in use.  So an
    # upload recorded before the question is seen, and the file is put back; one recorded
    # after it stores its bytes after the move, finds no file, and writes its own copy.
    # Copies under one key have the same bytes, so putting back over such a copy is harmless.

    @property
    def _aside_dir(self) -> Path:
        return self.root / "trash"

    async def collect(self, key: str, in_use: InUse) -> bool:
        area, digest = key.split("/", 1)[0], key.rsplit("/", 1)[-1]
        aside = self._aside_dir / f"{area}.{digest}.{secrets.token_hex(8)}"
        moved = await trio.to_thread.run_sync(self._move_aside, self._path(key), aside)
        return moved and await self._settle(key, aside, in_use)

    async def collect_leftovers(self, in_use: InUse) -> int:
        names = await trio.to_thread.run_sync(self._aside_names)
        deleted = 0
        for name in names:
            match = _ASIDE.fullmatch(name)
            if match is not None:
                key = self.key_for(match[2], match[1])
                deleted += await self._settle(key, self._aside_dir / name, in_use)
        return deleted

    async def _settle(self, key: str, aside: Path, in_use: InUse) -> bool:
        if await in_use(key):
            await trio.to_thread.run_sync(self._put_back, aside, self._path(key))
            return False
        await trio.to_thread.run_sync(lambda: aside.unlink(missing_ok=True))
        return True

    def _move_aside(self, path: Path, aside: Path) -> bool:
        aside.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False  # already gone (another node collected it)
        return True

    @staticmethod
    def _put_back(aside: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # another node settled it already
            os.replace(aside, path)
            _fsync_dir(path.parent)

    def _aside_names(self) -> list[str]:
        return sorted(os.listdir(self._aside_dir)) if self._aside_dir.is_dir() else []


class SpoolFile:
    """An upload being received: written in large batches from a worker thread, hashed as it goes.

    Keeps the first ``head_bytes`` in memory for type sniffing.  :meth:`discard` (also run by
    ``async with`` on error) deletes the partial file, so an aborted upload leaves nothing.
    """

    def __init__(self, directory: Path, *, head_bytes: int = 65536) -> None:
        self.path = directory / f"{secrets.token_hex(16)}.part"
        self.size = 0
        self.head = b""
        self._head_bytes = head_bytes
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._unsynced = 0
        self._file: object | None = None
        self._directory = directory

    async def __aenter__(self) -> SpoolFile:
        await trio.to_thread.run_sync(self._open)
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            with trio.CancelScope(shield=True):
                await self.discard()

    def _open(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("xb")

    async def write(self, data: bytes) -> None:
        if len(self.head) < self._head_bytes:
            self.head += data[: self._head_bytes - len(self.head)]
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            await trio.to_thread.run_sync(self._write_chunk, chunk)

    def _write_chunk(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)  # type: ignore[union-attr]
        self._unsynced += len(chunk)
        if self._unsynced >= SYNC_BYTES:
            self._file.flush()  # type: ignore[union-attr]
            os.fdatasync(self._file.fileno())  # type: ignore[union-attr]
            self._unsynced = 0

    async def finish(self) -> str:
        """Write what is buffered, sync to disk, close; return the SHA-256 (hex)."""
        await self._flush()
        await trio.to_thread.run_sync(self._close, True)
        return self._hash.hexdigest()

    def _close(self, sync: bool) -> None:
        file, self._file = self._file, None
        if file is not None:
            if sync:
                file.flush()  # type: ignore[attr-defined]
                os.fsync(file.fileno())  # type: ignore[attr-defined]
            file.close()  # type: ignore[attr-defined]

    async def discard(self) -> None:
        """Close and delete the partial file (safe to call more than once)."""
        self._buffer = bytearray()

        def remove() -> None:
            with contextlib.suppress(OSError):
                self._close(False)
            self.path.unlink(missing_ok=True)

        await trio.to_thread.run_sync(remove)


SPOOL_STALE = 3600.0
"""Seconds without a write after which a partial upload counts as abandoned."""


def sweep_spool(directory: Path, *, stale: float = SPOOL_STALE) -> int:
    """Delete partial uploads left by a crashed process (run at start-up); return how many.

    Only those not written for ``stale`` seconds: with several nodes sharing the files
    directory, the others' uploads in progress stay.
    """
    count = 0
    if directory.is_dir():
        cutoff = time.time() - stale
        for path in directory.glob("*.part"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    count += 1
            except FileNotFoundError:
                pass
    return count
