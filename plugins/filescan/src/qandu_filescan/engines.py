"""Content scanners: YARA rules (in a worker thread) and a ClamAV daemon (INSTREAM over a unix socket)."""

from __future__ import annotations

import struct
from importlib import resources
from pathlib import Path

import attrs
import trio
import yara

#: The external variables every rule may use; set for each scan.
EXTERNALS = {"filename": "", "extension": "", "mime_type": ""}
CLAMD_CHUNK = 65536
#: Longest clamd reply read (it is one short line).
_MAX_REPLY = 4096


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
    """Compiled rules; :meth:`scan` runs them in a worker thread (yara releases the GIL)."""

    def __init__(self, files: dict[str, str], *, timeout: int, threads: int = 2) -> None:
        try:
            self.rules = yara.compile(filepaths=files, externals=EXTERNALS) if files else None
        except yara.Error as exc:
            raise ScanError(f"plugins.filescan: YARA rules do not compile: {exc}") from None
        self.files = files
        self.timeout = timeout
        self._limiter = trio.CapacityLimiter(threads)

    def _match(self, path: Path, externals: dict[str, str]) -> list[Match]:
        assert self.rules is not None
        try:
            found = self.rules.match(filepath=str(path), externals=externals, timeout=self.timeout)
        except yara.TimeoutError:
            raise ScanError(f"YARA scan timed out after {self.timeout}s") from None
        except yara.Error as exc:
            raise ScanError(f"YARA scan failed: {exc}") from None
        return [Match("yara", m.rule, str(m.meta.get("description", m.rule))) for m in found]

    async def scan(self, path: Path, *, filename: str, extension: str, mime_type: str) -> list[Match]:
        if self.rules is None:
            return []
        externals = {"filename": filename, "extension": extension, "mime_type": mime_type}
        return await trio.to_thread.run_sync(self._match, path, externals, limiter=self._limiter)


async def clamd_scan(socket_path: str, path: Path, *, timeout: float) -> list[Match]:
    """Stream ``path`` to clamd (``zINSTREAM``) and return what it found."""
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_unix_socket(socket_path)
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
        raise ScanError(f"ClamAV is unreachable at {socket_path}: {exc.strerror or exc}") from None
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
