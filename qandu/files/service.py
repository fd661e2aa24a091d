"""File sharing: receive an upload, judge it, keep it, and decide who may fetch it.

The flow (like Slack's and Chatwoot's: upload first, then a message that references it):

1. ``POST /api/files`` streams the body into a spool file under the size limit
   (``[files] max_bytes`` and ``qandu_limit_upload``), hashing it on the way.
2. The name is sanitised and the type sniffed from the bytes; a row ``pending`` is written.
3. The core's type check and every ``qandu_scan_file`` implementation judge the file; any
   rejection wins.  A clean file is stored under ``blobs/`` (with a thumbnail if it is an
   image); a rejected one under ``quarantine/``, kept for admins.  The row records every
   verdict, and a ``file.scanned`` event goes to ``qandu_event``.
4. Only a clean upload can be sent: ``message.send`` with ``attachments: [uploadId]`` turns it
   into the product's ``Attachment`` (the uploader's own, same conversation, once).
5. Others can fetch it once that message is stored, and only while they may read it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from qandu.domain import Attachment, Content, Conversation, User, utcnow
from qandu.errors import Conflict, InvalidRequest, NotFound, QanduError, Unauthorized
from qandu.events import emit
from qandu.files import records
from qandu.files.blobs import FileStore, LocalFileStore, SpoolFile, sweep_spool
from qandu.files.model import Upload, Verdict, content_path, thumbnail_path
from qandu.files.names import sanitize_filename
from qandu.files.progress import UploadProgress
from qandu.files.retention import STALE_PENDING, Cleanup
from qandu.files.sniff import SNIFF_BYTES, decide_type, normalize
from qandu.files.thumbs import make_thumbnail

if TYPE_CHECKING:
    from qandu.auth import Auth
    from qandu.bus import Bus
    from qandu.config import FilesConfig
    from qandu.plugins import PluginManager
    from qandu.storage import Store

log = logging.getLogger("qandu.files")

LINK_AUDIENCE = "qandu-file"


class FileRejected(QanduError):
    """The upload was refused by a scanner or the type check (it is quarantined)."""

    code = "rejected"
    http_status = 422


class FilesDisabled(QanduError):
    """``[files] enabled = false``: the file API answers 404."""

    code = "not_found"
    http_status = 404


@attrs.frozen
class Link:
    """Signed, expiring URLs for ``<img src>`` and downloads without an Authorization header."""

    url: str
    thumbnail_url: str | None
    expires_at: dt.datetime


class FileService:
    """Uploads, their scanning and storage, attachments in messages, and access to the bytes."""

    def __init__(
        self,
        config: FilesConfig,
        data_dir: Path,
        store: Store,
        bus: Bus,
        pm: PluginManager,
        auth: Auth,
        *,
        blobs: FileStore | None = None,
    ) -> None:
        self.config = config
        self.root = data_dir / config.directory
        self.spool_dir = self.root / "tmp"
        self.blobs: FileStore = blobs if blobs is not None else LocalFileStore(self.root)
        self.store = store
        self.bus = bus
        self.pm = pm
        self.auth = auth
        self.chat: Any = None  # the ChatService, for its access checks (set by App.create)
        self._thumbnails = trio.CapacityLimiter(1)
        self.cleanup = Cleanup(config, store, self.blobs)

    def require_enabled(self) -> None:
        if not self.config.enabled:
            raise FilesDisabled("file sharing is not available on this server")

    async def open(self) -> None:
        """At start-up (storage open): drop partial uploads, fail scans a stop interrupted."""
        swept = await trio.to_thread.run_sync(sweep_spool, self.spool_dir)
        failed = await self.store.run_write(records.fail_stale_pending, utcnow() - STALE_PENDING)
        if swept or failed:
            log.info("removed %d partial uploads; %d interrupted scans marked failed", swept, failed)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The periodic clean-up of unused uploads and their files (:mod:`qandu.files.retention`)."""
        await self.cleanup.run(task_status=task_status)

    # -- receiving -------------------------------------------------------------------------

    async def limit_for(self, user: User, conversation: Conversation) -> int:
        """The largest upload ``user`` may send here: ``[files] max_bytes`` or a plugin's lower limit."""
        limit = self.config.max_bytes
        for _plugin, answer in await self.pm.call_all(
            "qandu_limit_upload", user=user, conversation=conversation
        ):
            if isinstance(answer, int) and not isinstance(answer, bool) and answer >= 0:
                limit = min(limit, answer)
        return limit

    @staticmethod
    def new_id() -> str:
        """An unguessable upload id (144 random bits)."""
        return "f_" + secrets.token_urlsafe(18)

    def progress(
        self, user: User, conversation: Conversation, upload_id: str, total: int | None
    ) -> UploadProgress:
        return UploadProgress(self.bus, user, conversation.id, upload_id, total)

    @asynccontextmanager
    async def spool(self) -> AsyncIterator[SpoolFile]:
        """A spool file for one upload; deleted if the block fails (or after it was stored)."""
        async with SpoolFile(self.spool_dir, head_bytes=SNIFF_BYTES) as spool:
            yield spool
        await spool.discard()  # normally already moved into the store: then a no-op

    async def accept(
        self,
        user: User,
        conversation: Conversation,
        spool: SpoolFile,
        *,
        upload_id: str,
        name: str | None,
        declared_type: str | None,
    ) -> Upload:
        """Judge and keep a completely received upload; raise :class:`FileRejected` if refused."""
        if spool.size == 0:
            raise InvalidRequest("file: the file is empty", field="file")
        sha256 = await spool.finish()
        clean_name = sanitize_filename(name or "")
        decision = decide_type(spool.head, declared=declared_type, extension=_extension(clean_name))
        mime = decision.mime_type
        upload = Upload(
            id=upload_id,
            conversation_id=conversation.id,
            uploader_id=user.id,
            name=clean_name,
            size=spool.size,
            sha256=sha256,
            mime_type=mime,
            kind=decision.kind,
            status="pending",
            created_at=utcnow(),
            declared_type=normalize(declared_type) or None,
        )
        await self.store.run_write(records.insert_upload, upload)
        verdicts: list[Verdict] = []
        if decision.mismatch is not None:
            clean = self.config.mime_mismatch == "correct"
            verdicts.append(Verdict(clean, decision.mismatch, "core", {"sniffed": decision.sniffed}))
        try:
            verdicts += await self._scan(upload, spool.path, user)
            rejection = next((v for v in verdicts if not v.clean), None)
            upload = await self._keep(upload, spool.path, verdicts, rejection)
        except BaseException:
            with trio.CancelScope(shield=True):
                failed = attrs.evolve(upload, status="failed", reason="interrupted", verdicts=tuple(verdicts))
                await self.store.run_write(records.save_upload, failed)
            raise
        await self._record(upload, user, verdicts)
        if rejection is not None:
            log.warning(
                "quarantined upload %s from %s: %s (%s)",
                upload.id,
                user.id,
                rejection.reason,
                rejection.scanner,
            )
            raise FileRejected(f"file rejected: {rejection.reason}", field="file")
        return upload

    async def _scan(self, upload: Upload, path: Path, user: User) -> list[Verdict]:
        verdicts = []
        for plugin, ok, result in await self.pm.call_each(
            "qandu_scan_file", timeout=self.config.scan_timeout, upload=upload, path=path, user=user
        ):
            if not ok:
                failed = "scanner failed or timed out"
                verdicts.append(Verdict(self.config.scan_failure == "accept", failed, plugin, None))
            elif isinstance(result, Verdict):
                verdicts.append(result if result.scanner else attrs.evolve(result, scanner=plugin))
        return verdicts

    async def _keep(
        self, upload: Upload, path: Path, verdicts: list[Verdict], rejection: Verdict | None
    ) -> Upload:
        thumbnail_key = width = height = None
        if rejection is None and upload.kind == "image":
            thumb = await make_thumbnail(
                path,
                size=self.config.thumbnail_px,
                max_pixels=self.config.max_image_pixels,
                limiter=self._thumbnails,
            )
            width, height = thumb.width, thumb.height
            if thumb.data is not None:
                thumbnail_key = await self.blobs.put_bytes(thumb.data, area="thumbs")
        area = "blobs" if rejection is None else "quarantine"
        key = await self.blobs.put(path, sha256=upload.sha256, area=area)
        upload = attrs.evolve(
            upload,
            status="clean" if rejection is None else "quarantined",
            reason=rejection.reason if rejection is not None else None,
            verdicts=tuple(verdicts),
            storage_key=key,
            thumbnail_key=thumbnail_key,
            width=width,
            height=height,
            scanned_at=utcnow(),
        )
        return await self.store.run_write(records.save_upload, upload)

    async def _record(self, upload: Upload, user: User, verdicts: list[Verdict]) -> None:
        data = {
            "uploadId": upload.id,
            "uploaderId": user.id,
            "role": user.role,
            "status": upload.status,
            "mimeType": upload.mime_type,
            "declaredType": upload.declared_type,
            "size": upload.size,
            "name": upload.name,
            "reason": upload.reason,
            "scanners": {v.scanner: ("clean" if v.clean else "rejected") for v in verdicts},
        }
        await emit(self.pm, "file.scanned", upload.conversation_id, **data)

    # -- attaching to messages -------------------------------------------------------------

    async def prepare(
        self, user: User, conversation_id: str, upload_ids: list[str], client_msg_id: str, content: Content
    ) -> tuple[tuple[Attachment, ...], Content]:
        """Check that ``upload_ids`` may be sent in this message; return attachments and content.

        Each must be the sender's own clean upload to this conversation, not yet sent in
        another message.  ``content.type`` becomes ``image`` (all images) or ``file``.
        """
        if not self.config.enabled:
            raise InvalidRequest(
                "attachments: file sharing is not available on this server", field="attachments"
            )
        if len(set(upload_ids)) != len(upload_ids):
            raise InvalidRequest("attachments: an upload is listed twice", field="attachments")
        uploads = await self.store.run_read(records.get_uploads, list(upload_ids))
        attachments = []
        for index, upload_id in enumerate(upload_ids):
            field = f"attachments.{index}"
            upload = uploads.get(upload_id)
            if upload is None or upload.uploader_id != user.id:
                raise NotFound(f"{field}: no upload {upload_id} of yours", field=field)
            if upload.conversation_id != conversation_id:
                raise InvalidRequest(
                    f"{field}: upload {upload_id} belongs to another conversation", field=field
                )
            if upload.status != "clean":
                raise FileRejected(
                    f"{field}: upload {upload_id} is {upload.status}: {upload.reason}", field=field
                )
            if upload.client_msg_id not in (None, client_msg_id):
                raise Conflict(
                    f"{field}: upload {upload_id} was already sent in another message", field=field
                )
            attachments.append(upload.attachment())
        kind = "image" if all(a.type == "image" for a in attachments) else "file"
        if content.type in ("text", "image", "file"):
            content = attrs.evolve(content, type=kind, file_url=content.file_url or attachments[0].url)
        return tuple(attachments), content

    @asynccontextmanager
    async def claimed(self, upload_ids: list[str], client_msg_id: str) -> AsyncIterator[None]:
        """Reserve uploads for the message being stored; give them back if it is not stored."""
        if not upload_ids:
            yield
            return
        held = await self.store.run_write(records.claim_uploads, upload_ids, client_msg_id)
        try:
            missing = sorted(set(upload_ids) - set(held))
            if missing:
                raise Conflict(
                    f"attachments: upload {missing[0]} was already sent in another message",
                    field="attachments",
                )
            yield
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.store.run_write(records.release_uploads, upload_ids, client_msg_id)
            raise

    # -- fetching --------------------------------------------------------------------------

    async def fetch(self, user: User, upload_id: str) -> Upload:
        """The upload if ``user`` may see it: admins any; the uploader their own clean file;
        others a clean file once it was sent in a message they may read."""
        self.require_enabled()
        upload = await self.store.run_read(records.get_upload, upload_id)
        if upload is None:
            raise NotFound(f"no upload {upload_id}", field="uploadId")
        if user.role == "admin":
            return upload
        if upload.status != "clean":
            raise NotFound(f"no upload {upload_id}", field="uploadId")
        if upload.uploader_id != user.id:
            sent = await self.store.run_read(records.sent_message, upload)
            if sent is None or sent[2] or (sent[1] and not user.is_staff):
                raise NotFound(f"no upload {upload_id}", field="uploadId")
        await self.chat.readable(user, upload.conversation_id)
        return upload

    async def list_uploads(
        self, *, status: str | None, conversation_id: str | None, before: dt.datetime | None, limit: int
    ) -> list[Upload]:
        return await self.store.run_read(
            records.list_uploads, status=status, conversation_id=conversation_id, before=before, limit=limit
        )

    def link(self, user: User, upload: Upload) -> Link:
        """Signed URLs for ``upload`` that act as ``user`` until ``[files] link_ttl`` runs out."""
        ttl = self.config.link_ttl
        sig = self.auth.issue_scoped(user.id, audience=LINK_AUDIENCE, ttl=ttl, fid=upload.id)
        thumb = f"{thumbnail_path(upload.id)}?sig={sig}" if upload.thumbnail_key else None
        expires = utcnow().replace(microsecond=0) + dt.timedelta(seconds=ttl)
        return Link(url=f"{content_path(upload.id)}?sig={sig}", thumbnail_url=thumb, expires_at=expires)

    async def link_user(self, sig: str, upload_id: str) -> User:
        """The user a signed link acts for; raise Unauthorized if it is bad, expired or for another file."""
        claims = self.auth.verify_scoped(sig, audience=LINK_AUDIENCE)
        if claims.get("fid") != upload_id:
            raise Unauthorized("this link is for another file", field="sig")
        user = await self.store.get_user(str(claims["sub"]))
        if user is None:
            raise Unauthorized("the link's user no longer exists", field="sig")
        return user


def claimed_uploads(
    files: FileService | None, upload_ids: list[str], client_msg_id: str
) -> AbstractAsyncContextManager[None]:
    """:meth:`FileService.claimed`, or nothing to do when no upload is sent."""
    if files is None or not upload_ids:
        return nullcontext()
    return files.claimed(upload_ids, client_msg_id)


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""
