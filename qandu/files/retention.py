"""File retention: the periodic clean-up of uploads nobody can use any more, and of their files.

Every ``[files] cleanup_interval`` seconds each node:

1. marks uploads still ``pending`` an hour after they began as ``failed`` (their node stopped);
2. marks ``deleting`` the uploads of deleted messages, uploads never sent in a message
   ``unsent_ttl`` seconds after they were made (and failed ones), and -- if
   ``quarantine_ttl`` is set -- quarantined ones that old (:func:`records.mark_for_deletion`:
   conditional updates, so a message attaching the upload at that moment wins or loses whole);
3. for each ``deleting`` upload, deletes each of its files that no other upload uses
   (:meth:`FileStore.collect`, safe against the same bytes being uploaded meanwhile), then
   its row.

Every step is idempotent and safe to run on several nodes at once against one database:
the rows say what is left to do, so a node that stops half-way leaves work the next run
(of any node) finishes, and two nodes doing the same step find each other's work done.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import attrs
import trio

from qandu.domain import utcnow
from qandu.files import records
from qandu.files.blobs import FileStore

if TYPE_CHECKING:
    from qandu.config import FilesConfig
    from qandu.storage import Store

log = logging.getLogger("qandu.files.retention")

#: Rows handled per database round trip.
BATCH = 200
#: A ``pending`` upload older than this was interrupted by a stop or crash (no scan lasts this long).
STALE_PENDING = dt.timedelta(hours=1)


@attrs.frozen
class CleanupResult:
    """What one run did."""

    failed: int = 0
    """Uploads left ``pending`` by a stopped node, now ``failed``."""
    uploads: int = 0
    """Upload rows deleted."""
    files: int = 0
    """Stored files deleted (files, thumbnails; a file shared by uploads counts once)."""


class Cleanup:
    """The clean-up job of one node (``FileService.cleanup``)."""

    def __init__(self, config: FilesConfig, store: Store, blobs: FileStore) -> None:
        self.config = config
        self.store = store
        self.blobs = blobs

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Clean up every ``cleanup_interval`` seconds until cancelled (never, if it is 0)."""
        task_status.started()
        if self.config.cleanup_interval <= 0:
            return
        while True:
            try:
                result = await self.sweep()
                if result != CleanupResult():
                    log.info(
                        "file clean-up: %d uploads and %d files deleted, %d interrupted uploads failed",
                        result.uploads,
                        result.files,
                        result.failed,
                    )
            except Exception:
                log.exception("file clean-up failed; retrying at the next interval")
            await trio.sleep(self.config.cleanup_interval)

    async def sweep(self) -> CleanupResult:
        """One run of the clean-up."""
        now = utcnow()
        failed = await self.store.run_write(records.fail_stale_pending, now - STALE_PENDING)
        await self._mark(now)
        uploads = files = 0
        while batch := await self.store.run_read(records.deleting, limit=BATCH):
            for key in sorted({key for _, keys in batch for key in keys}):
                files += await self.blobs.collect(key, self._in_use)
            done = [upload_id for upload_id, _ in batch]
            uploads += await self.store.run_write(records.drop_deleting, done)
        files += await self.blobs.collect_leftovers(self._in_use)
        return CleanupResult(failed=failed, uploads=uploads, files=files)

    async def _mark(self, now: dt.datetime) -> None:
        ttl = self.config.quarantine_ttl
        marked = BATCH
        while marked:
            marked = await self.store.run_write(
                records.mark_for_deletion,
                unsent_before=now - dt.timedelta(seconds=self.config.unsent_ttl),
                quarantined_before=now - dt.timedelta(seconds=ttl) if ttl > 0 else None,
                limit=BATCH,
            )

    async def _in_use(self, key: str) -> bool:
        return await self.store.run_read(records.key_in_use, key)
