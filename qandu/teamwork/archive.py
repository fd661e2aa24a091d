"""Auto-archive: resolved conversations become ``archived`` ``[lifecycle] archive_after`` seconds later.

Each sweep archives in one writer transaction that re-checks every conversation's status
under the store's lock, so several nodes sweeping at once archive each conversation once
(the others find it archived and skip it).  The change is recorded in the status history
(by nobody, with the reason) and announced like any other status change.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import trio

from qandu.domain import utcnow
from qandu.storage import review

if TYPE_CHECKING:
    from qandu.teamwork.service import Teamwork

log = logging.getLogger("qandu.teamwork.archive")

BATCH = 100


def describe(seconds: float) -> str:
    """``3 days``, ``2 hours``, ``90 seconds``: the archive delay for the history's reason."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


class Archiver:
    """The auto-archive sweep (``teamwork.archiver``)."""

    def __init__(self, teamwork: Teamwork) -> None:
        self.teamwork = teamwork
        self.archived = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("auto-archive sweep failed; retrying")
            await trio.sleep(self.teamwork.config.archive_interval)

    async def sweep(self) -> int:
        """Archive what is due now; return how many conversations were archived."""
        after = self.teamwork.config.archive_after
        if after <= 0:
            return 0
        cutoff = utcnow() - dt.timedelta(seconds=after)
        reason = f"auto-archived {describe(after)} after it was resolved"
        total = 0
        while True:
            changes = await self.teamwork.store.run_write(
                review.archive_resolved, resolved_before=cutoff, reason=reason, limit=BATCH
            )
            for conversation, change in changes:
                await self.teamwork.chat._status_changed(conversation, change)
            total += len(changes)
            if len(changes) < BATCH:
                self.archived += total
                return total
