"""What the file-sharing core hands to plugins and clients: uploads and scan verdicts."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import attrs

from qandu.domain import Attachment, AttachmentType, iso

UploadStatus = Literal["pending", "clean", "quarantined", "failed"]
UPLOAD_STATUSES: tuple[str, ...] = ("pending", "clean", "quarantined", "failed")


def content_path(upload_id: str) -> str:
    """The URL path (relative to the server's base URL) that serves an upload's bytes."""
    return f"/api/files/{upload_id}/content"


def thumbnail_path(upload_id: str) -> str:
    return f"/api/files/{upload_id}/thumbnail"


@attrs.frozen
class Verdict:
    """One scanner's judgement of an upload: ``clean=False`` rejects (and quarantines) it.

    ``scanner`` names who decided (a plugin sets it to its own name; the core's type check is
    ``core``); ``details`` holds anything worth keeping for the audit trail (matched rules...).
    """

    clean: bool
    reason: str = ""
    scanner: str = ""
    details: dict[str, Any] | None = None

    @classmethod
    def accept(cls, scanner: str = "", **details: Any) -> Verdict:
        return cls(True, "", scanner, details or None)

    @classmethod
    def reject(cls, reason: str, scanner: str = "", **details: Any) -> Verdict:
        return cls(False, reason, scanner, details or None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"clean": self.clean, "scanner": self.scanner}
        if self.reason:
            data["reason"] = self.reason
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(bool(data["clean"]), data.get("reason", ""), data.get("scanner", ""), data.get("details"))


@attrs.frozen
class Upload:
    """A file someone uploaded to a conversation.

    ``name`` is already sanitised; ``mime_type`` was sniffed from the bytes (``declared_type``
    is what the client claimed); ``kind`` is the product's attachment type.  Only ``clean``
    uploads are ever served to anyone but admins, and only they can be sent in a message.
    """

    id: str
    conversation_id: str
    uploader_id: str
    name: str
    size: int
    sha256: str
    mime_type: str
    kind: AttachmentType
    status: UploadStatus
    created_at: dt.datetime
    declared_type: str | None = None
    reason: str | None = None
    verdicts: tuple[Verdict, ...] = ()
    storage_key: str | None = None
    thumbnail_key: str | None = None
    width: int | None = None
    height: int | None = None
    client_msg_id: str | None = None
    scanned_at: dt.datetime | None = None

    @property
    def extension(self) -> str:
        """The lower-case extension of the (sanitised) name, without the dot ('' if none)."""
        stem, dot, ext = self.name.rpartition(".")
        return ext.lower() if dot and stem else ""

    def attachment(self) -> Attachment:
        """The product document's ``Attachment`` for this upload."""
        return Attachment(
            id=self.id,
            type=self.kind,
            url=content_path(self.id),
            name=self.name,
            size=self.size,
            mime_type=self.mime_type,
        )

    def to_wire(self, *, audit: bool = False) -> dict[str, Any]:
        """The JSON clients see; ``audit`` adds the verdicts and hash (for admins)."""
        data: dict[str, Any] = {
            "id": self.id,
            "conversationId": self.conversation_id,
            "uploaderId": self.uploader_id,
            "name": self.name,
            "size": self.size,
            "mimeType": self.mime_type,
            "type": self.kind,
            "status": self.status,
            "createdAt": iso(self.created_at),
            "url": content_path(self.id),
        }
        if self.thumbnail_key:
            data["thumbnailUrl"] = thumbnail_path(self.id)
        if self.width is not None and self.height is not None:
            data["width"], data["height"] = self.width, self.height
        if self.reason:
            data["reason"] = self.reason
        if audit:
            data["sha256"] = self.sha256
            data["declaredType"] = self.declared_type
            data["verdicts"] = [v.to_json() for v in self.verdicts]
            data["scannedAt"] = iso(self.scanned_at)
        return {key: value for key, value in data.items() if value is not None}
