"""Content scanners: YARA rules (in worker processes) and a ClamAV daemon (INSTREAM over a socket)."""

from __future__ import annotations

import io
import json
import struct
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import trio
import yara

from qandu_filescan.pool import WorkerFailed, WorkerPool

#: The external variables every rule may use; set for each scan.
EXTERNALS = {"filename": "", "extension": "", "mime_type": ""}
CLAMD_CHUNK = 65536
#: Longest clamd reply read (it is one short line).
_MAX_REPLY = 4096
#: A worker that has not answered this long after libyara's own timeout is killed.
_WORKER_SLACK = 2.0


class ScanError(Exception):
    """A scanner could not give an answer (not the same as finding something)."""


@attrs.frozen
class Match:
    """A finding: which engine, which rule or signature, and its human description."""

    engine: str
    rule: str
    description: str


def rule_files(builtin: bool, rules_dir: Path | None) -> dict[str, str]:
    """YARA namespaces to rule files: the shipped rules, then the operator's folder."""
    files: dict[str, str] = {}
    if builtin:
        shipped = resources.files("qandu_filescan") / "rules"
        for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yar"):
                files[f"builtin.{entry.name.removesuffix('.yar')}"] = str(entry)
    if rules_dir is not None:
        if not rules_dir.is_dir():
            raise ScanError(f"plugins.filescan.rules_dir: {rules_dir} is not a directory")
        for path in sorted([*rules_dir.glob("*.yar"), *rules_dir.glob("*.yara")]):
            files[f"local.{path.stem}"] = str(path)
    return files


class YaraScanner:
    """Compiled rules; :meth:`scan` runs them in a worker process (:mod:`qandu_filescan.pool`).

    libyara maps the file it scans into memory: in a worker, so that the server does not
    grow by the size of every upload, and so that a scan that hangs or crashes can be killed.
    """

    def __init__(self, files: dict[str, str], *, timeout: int, workers: int = 2) -> None:
        try:
            rules = yara.compile(filepaths=files, externals=EXTERNALS) if files else None
        except yara.Error as exc:
            raise ScanError(f"plugins.filescan: YARA rules do not compile: {exc}") from None
        self.files = files
        self.timeout = timeout
        self.pool: WorkerPool | None = None
        if rules is not None:
            compiled = io.BytesIO()
            rules.save(file=compiled)
            self.pool = WorkerPool(compiled.getvalue(), size=workers)

    async def scan(self, path: Path, *, filename: str, extension: str, mime_type: str) -> list[Match]:
        if self.pool is None:
            return []
        externals = {"filename": filename, "extension": extension, "mime_type": mime_type}
        request = {"path": str(path), "externals": externals, "timeout": self.timeout}
        try:
            answer = json.loads(
                await self.pool.call(json.dumps(request).encode(), timeout=self.timeout + _WORKER_SLACK)
            )
        except WorkerFailed as exc:
            raise ScanError(f"YARA scan failed: {exc}") from None
        if "error" in answer:
            raise ScanError(answer["error"])
        return [Match("yara", rule, description) for rule, description in answer["matches"]]

    async def aclose(self) -> None:
        """Stop the worker processes."""
        if self.pool is not None:
            await self.pool.aclose()


def clamd_endpoint(address: str) -> tuple[str, int] | None:
    """``tcp://host:port`` -> ``(host, port)``; ``None`` for a unix socket's path.

    Raises ``ValueError`` for a ``tcp://`` address without a host or port.
    """
    if not address.startswith("tcp://"):
        return None
    parts = urlsplit(address)
    if not parts.hostname or parts.port is None or parts.path not in ("", "/"):
        raise ValueError(f"{address!r} is not tcp://host:port")
    return parts.hostname, parts.port


async def _connect(address: str) -> trio.SocketStream:
    endpoint = clamd_endpoint(address)
    if endpoint is None:
        return await trio.open_unix_socket(address)
    return await trio.open_tcp_stream(*endpoint)


async def clamd_scan(address: str, path: Path, *, timeout: float) -> list[Match]:
    """Stream ``path`` to clamd (``zINSTREAM``) at ``address`` (a unix socket's path or
    ``tcp://host:port``) and return what it found."""
    try:
        with trio.fail_after(timeout):
            stream = await _connect(address)
            async with stream:
                try:
                    await stream.send_all(b"zINSTREAM\0")
                    async with await trio.open_file(path, "rb") as file:
                        while chunk := await file.read(CLAMD_CHUNK):
                            await stream.send_all(struct.pack("!L", len(chunk)) + chunk)
                    await stream.send_all(struct.pack("!L", 0))
                except trio.BrokenResourceError:
                    pass  # clamd stops reading when it refuses the stream: its reply says why
                reply = await _read_reply(stream)
    except trio.TooSlowError:
        raise ScanError(f"ClamAV did not answer within {timeout}s") from None
    except OSError as exc:
        raise ScanError(f"ClamAV is unreachable at {address}: {exc.strerror or exc}") from None
    return _parse_reply(reply)


async def _read_reply(stream: trio.abc.Stream) -> str:
    reply = b""
    while b"\0" not in reply and len(reply) < _MAX_REPLY:
        try:
            data = await stream.receive_some(_MAX_REPLY)
        except trio.BrokenResourceError:
            break
        if not data:
            break
        reply += data
    return reply.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()


def _parse_reply(reply: str) -> list[Match]:
    """``stream: OK`` / ``stream: <signature> FOUND`` / ``... ERROR``."""
    _, _, result = reply.partition(": ")
    if reply.endswith(" FOUND"):
        signature = result.removesuffix(" FOUND").strip() or "unknown"
        return [Match("clamav", signature, f"ClamAV found {signature}")]
    if result == "OK":
        return []
    raise ScanError(f"ClamAV could not scan the file: {reply or 'no reply'}")
