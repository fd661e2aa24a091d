"""``upload.progress`` / ``upload.finished`` frames: what the server sees of an upload arriving.

The uploading browser measures its own progress (XHR upload events); these frames are for
everyone else in the conversation -- the agent's "Ada is sending a file (40%)" and the
uploader's other tabs.  They are ephemeral (never stored, not replayed).  An agent's upload
is announced to staff only, so that a file meant for a private note is not announced to the
customer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from qandu.bus import conversation_topic
from qandu.gateway.protocol import server_frame

if TYPE_CHECKING:
    from qandu.bus import Bus
    from qandu.domain import User

#: At most one ``upload.progress`` frame per upload in this many seconds.
PROGRESS_INTERVAL = 0.25


class UploadProgress:
    """Publishes throttled progress of one upload, then exactly one ``upload.finished``."""

    def __init__(self, bus: Bus, user: User, conversation_id: str, upload_id: str, total: int | None) -> None:
        self.bus = bus
        self.user = user
        self.conversation_id = conversation_id
        self.upload_id = upload_id
        self.total = total
        self.name: str | None = None
        self._last = -PROGRESS_INTERVAL
        self._reported = -1
        self._finished = False

    def _publish(self, frame: bytes) -> None:
        self.bus.publish(conversation_topic(self.conversation_id), frame, staff_only=self.user.is_staff)

    def __call__(self, received: int, *, final: bool = False) -> None:
        """Report ``received`` bytes (throttled); ``final`` (the whole body is in) always goes out."""
        now = trio.current_time()
        if not final and now - self._last < PROGRESS_INTERVAL:
            return
        if final and received == self._reported:
            return
        self._last, self._reported = now, received
        self._publish(
            server_frame(
                "upload.progress",
                conversation_id=self.conversation_id,
                upload_id=self.upload_id,
                user_id=self.user.id,
                name=self.name,
                received=received,
                total=self.total,
            )
        )

    def finished(self, status: str) -> None:
        """Announce the end: ``clean``, ``quarantined`` or ``failed`` (aborted, too large...)."""
        if self._finished:
            return
        self._finished = True
        self._publish(
            server_frame(
                "upload.finished",
                conversation_id=self.conversation_id,
                upload_id=self.upload_id,
                user_id=self.user.id,
                status=status,
            )
        )
