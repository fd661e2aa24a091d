"""The ``filescan`` plugin: size limit per role, type policy, YARA rules and (optionally) ClamAV.

Every upload is judged before anyone else can see it (``qandu_scan_file``): first the
policy of the uploader's role (cheap), then the YARA rules in a worker process, then ClamAV
if a daemon socket is configured.  The first finding rejects the file; the core quarantines
it, tells the sender and records the verdict (``file.scanned`` event).
"""

from __future__ import annotations

import logging
from pathlib import Path

from qandu import hookimpl
from qandu.domain import User
from qandu.files import Upload, Verdict
from qandu_filescan.config import FileScanConfig
from qandu_filescan.engines import Match, ScanError, YaraScanner, clamd_scan, rule_files
from qandu_filescan.policy import decide, extensions_of, policy_for

log = logging.getLogger("qandu.filescan")
NAME = "filescan"


class FileScan:
    """Refuse files a role may not share, and files the YARA rules or ClamAV flag."""

    Config = FileScanConfig
    requires = ()

    def __init__(self, config: FileScanConfig) -> None:
        self.config = config
        rules_dir = Path(config.rules_dir) if config.rules_dir else None
        # Compiled here, so that a broken rule stops the server from starting (with the reason).
        self.yara = YaraScanner(
            rule_files(config.builtin_rules, rules_dir), timeout=config.yara_timeout, workers=config.workers
        )

    @hookimpl
    async def qandu_shutdown(self, app: object) -> None:
        await self.yara.aclose()

    @hookimpl
    async def qandu_limit_upload(self, user: User) -> int | None:
        return policy_for(self.config, user.role).max_bytes

    @hookimpl
    async def qandu_scan_file(self, upload: Upload, path: Path, user: User) -> Verdict:
        policy = policy_for(self.config, user.role)
        types = [upload.mime_type, upload.declared_type or ""]
        refusal = decide(policy, types=types, name=upload.name, size=upload.size)
        if refusal is not None:
            return Verdict.reject(refusal, NAME, engine="policy", role=user.role)
        engines = ["policy"]
        matches: list[Match] = []
        try:
            if self.yara.files:
                extensions = extensions_of(upload.name)
                matches = await self.yara.scan(
                    path,
                    filename=upload.name,
                    extension=extensions[-1] if extensions else "",
                    mime_type=upload.mime_type,
                )
                engines.append("yara")
            if not matches and self.config.clamd_socket:
                matches = await clamd_scan(self.config.clamd_socket, path, timeout=self.config.clamd_timeout)
                engines.append("clamav")
        except ScanError as exc:
            log.error("scanning upload %s failed: %s", upload.id, exc)
            if self.config.on_error == "accept":
                return Verdict(True, str(exc), NAME, {"engines": engines, "error": str(exc)})
            return Verdict.reject(f"the file could not be scanned ({exc})", NAME, engines=engines)
        if matches:
            return _rejection(matches)
        return Verdict.accept(NAME, engines=engines)


def _rejection(matches: list[Match]) -> Verdict:
    first = matches[0]
    findings = [{"engine": m.engine, "rule": m.rule} for m in matches]
    return Verdict.reject(f"{first.description} ({first.engine}: {first.rule})", NAME, findings=findings)
