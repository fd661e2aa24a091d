"""The ``uploads`` table: one row per upload, its verdicts and where its bytes are.

These functions take the store's :class:`~qandu.storage.models.Db` and run in its threads
(``Store.run_write`` / ``Store.run_read``).  Writes are pure database work (the writer may
replay them).

A row the clean-up is removing has the status ``deleting`` (:data:`DELETING`): it is hidden
from every reader here and can no longer be claimed by a message; the clean-up deletes it
once the files only it used are gone (:mod:`qandu.files.retention`).
"""

from __future__ import annotations

import datetime as dt
import weakref
from typing import Any

import peewee

from qandu.files.model import Upload, Verdict
from qandu.storage.fields import JSONField, UtcDateTimeField
from qandu.storage.models import Db
from qandu.storage.rawsql import TableSql

#: The status of a row whose files the clean-up is removing (never shown to clients).
DELETING = "deleting"
_VISIBLE = f"status <> '{DELETING}'"

_TABLES: weakref.WeakKeyDictionary[peewee.Database, TableSql] = weakref.WeakKeyDictionary()


def _model(database: peewee.Database, text_types: bool) -> type[peewee.Model]:
    class UploadRow(peewee.Model):
        id = peewee.TextField(primary_key=True)
        conversation_id = peewee.TextField()
        uploader_id = peewee.TextField()
        name = peewee.TextField()
        size = peewee.BigIntegerField()
        sha256 = peewee.TextField()
        mime_type = peewee.TextField()
        declared_type = peewee.TextField(null=True)
        kind = peewee.TextField()
        status = peewee.TextField()
        reason = peewee.TextField(null=True)
        verdicts = JSONField(as_text=text_types)
        storage_key = peewee.TextField(null=True)
        thumbnail_key = peewee.TextField(null=True)
        width = peewee.IntegerField(null=True)
        height = peewee.IntegerField(null=True)
        client_msg_id = peewee.TextField(null=True)
        created_at = UtcDateTimeField(as_text=text_types)
        scanned_at = UtcDateTimeField(as_text=text_types, null=True)

        class Meta:
            table_name = "uploads"

    UploadRow._meta.set_database(database)
    return UploadRow


def _table(db: Db) -> TableSql:
    table = _TABLES.get(db.database)
    if table is None:
        table = TableSql(_model(db.database, db.backend == "sqlite"), db.database.param)
        _TABLES[db.database] = table
    return table


def _to_row(upload: Upload) -> dict[str, Any]:
    return {
        "id": upload.id,
        "conversation_id": upload.conversation_id,
        "uploader_id": upload.uploader_id,
        "name": upload.name,
        "size": upload.size,
        "sha256": upload.sha256,
        "mime_type": upload.mime_type,
        "declared_type": upload.declared_type,
        "kind": upload.kind,
        "status": upload.status,
        "reason": upload.reason,
        "verdicts": [v.to_json() for v in upload.verdicts],
        "storage_key": upload.storage_key,
        "thumbnail_key": upload.thumbnail_key,
        "width": upload.width,
        "height": upload.height,
        "client_msg_id": upload.client_msg_id,
        "created_at": upload.created_at,
        "scanned_at": upload.scanned_at,
    }


def _from_row(row: dict[str, Any]) -> Upload:
    return Upload(
        id=row["id"],
        conversation_id=row["conversation_id"],
        uploader_id=row["uploader_id"],
        name=row["name"],
        size=row["size"],
        sha256=row["sha256"],
        mime_type=row["mime_type"],
        kind=row["kind"],
        status=row["status"],
        created_at=row["created_at"],
        declared_type=row["declared_type"],
        reason=row["reason"],
        verdicts=tuple(Verdict.from_json(v) for v in row["verdicts"] or ()),
        storage_key=row["storage_key"],
        thumbnail_key=row["thumbnail_key"],
        width=row["width"],
        height=row["height"],
        client_msg_id=row["client_msg_id"],
        scanned_at=row["scanned_at"],
    )


def insert_upload(db: Db, upload: Upload) -> Upload:
    t = _table(db)
    db.database.execute_sql(t.insert, t.encode(_to_row(upload)))
    return upload


def save_upload(db: Db, upload: Upload) -> Upload:
    """Write every column of an existing upload (after its scan)."""
    t = _table(db)
    row = _to_row(upload)
    names = [f.name for f in t.fields if f.name != "id"]
    assignments = ", ".join(f'"{name}" = ?' for name in names)
    values = tuple(f.db_value(row[f.name]) for f in t.fields if f.name != "id")
    db.sql(f'UPDATE "uploads" SET {assignments} WHERE id = ?', (*values, upload.id))
    return upload


def get_upload(db: Db, upload_id: str) -> Upload | None:
    t = _table(db)
    values = db.database.execute_sql(t.where(f"id = ? AND {_VISIBLE}"), (upload_id,)).fetchone()
    return None if values is None else _from_row(t.decode(values))


def get_uploads(db: Db, upload_ids: list[str]) -> dict[str, Upload]:
    if not upload_ids:
        return {}
    t = _table(db)
    condition = f"id IN {t.in_list(len(upload_ids))} AND {_VISIBLE}"
    cursor = db.database.execute_sql(t.where(condition), tuple(upload_ids))
    return {row["id"]: _from_row(row) for row in t.decode_all(cursor)}


def list_uploads(
    db: Db,
    *,
    status: str | None,
    conversation_id: str | None,
    before: dt.datetime | None,
    limit: int,
) -> list[Upload]:
    """Newest first; ``before`` pages back by creation time."""
    t = _table(db)
    conditions, params = [_VISIBLE], []
    if status is not None:
        conditions.append("status = ?")
        params.append(status)
    if conversation_id is not None:
        conditions.append("conversation_id = ?")
        params.append(conversation_id)
    if before is not None:
        conditions.append("created_at < ?")
        params.append(t.fields[[f.name for f in t.fields].index("created_at")].db_value(before))
    sql = t.where(" AND ".join(conditions) + f" ORDER BY created_at DESC, id DESC LIMIT {int(limit)}")
    return [_from_row(row) for row in t.decode_all(db.database.execute_sql(sql, tuple(params)))]


def claim_uploads(db: Db, upload_ids: list[str], client_msg_id: str) -> list[str]:
    """Reserve unclaimed clean uploads for the message ``client_msg_id``; return the ids now held by it.

    One conditional update: racing the clean-up's (:func:`mark_for_deletion`), exactly one wins.
    """
    placeholders = "(" + ", ".join(["?"] * len(upload_ids)) + ")"
    db.sql(
        f"UPDATE uploads SET client_msg_id = ? WHERE id IN {placeholders}"
        " AND client_msg_id IS NULL AND status = 'clean'",
        (client_msg_id, *upload_ids),
    )
    rows = db.sql(
        f"SELECT id FROM uploads WHERE id IN {placeholders} AND client_msg_id = ? AND status = 'clean'",
        (*upload_ids, client_msg_id),
    ).fetchall()
    return [row[0] for row in rows]


def release_uploads(db: Db, upload_ids: list[str], client_msg_id: str) -> None:
    """Undo :func:`claim_uploads` -- unless the message was stored after all (a failed resend)."""
    placeholders = "(" + ", ".join(["?"] * len(upload_ids)) + ")"
    db.sql(
        f"UPDATE uploads SET client_msg_id = NULL WHERE id IN {placeholders} AND client_msg_id = ?"
        " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = uploads.conversation_id"
        " AND m.sender_id = uploads.uploader_id AND m.client_msg_id = uploads.client_msg_id)",
        (*upload_ids, client_msg_id),
    )


def sent_message(db: Db, upload: Upload) -> tuple[str, bool, bool] | None:
    """The message an upload was sent in: ``(id, private, deleted)``, or ``None`` if none was stored."""
    if upload.client_msg_id is None:
        return None
    row = db.sql(
        "SELECT id, private, deleted_at FROM messages"
        " WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?",
        (upload.conversation_id, upload.uploader_id, upload.client_msg_id),
    ).fetchone()
    return None if row is None else (row[0], bool(row[1]), row[2] is not None)


def fail_stale_pending(db: Db, older_than: dt.datetime) -> int:
    """Mark uploads whose scan never finished (the process stopped) as ``failed``."""
    stamp = UtcDateTimeField(as_text=db.backend == "sqlite").db_value(older_than)
    cursor = db.sql(
        "UPDATE uploads SET status = 'failed', reason = 'the server stopped while scanning'"
        " WHERE status = 'pending' AND created_at < ?",
        (stamp,),
    )
    return cursor.rowcount


# -- retention (qandu.files.retention) ---------------------------------------------------------

#: Never sent in a message: clean ones nobody attached, and failed ones.
_UNSENT = "status IN ('clean', 'failed') AND client_msg_id IS NULL AND created_at < ?"
#: Sent in a message that was deleted since (deleting a message is final).
_OF_DELETED_MESSAGES = (
    "status = 'clean' AND client_msg_id IS NOT NULL AND EXISTS (SELECT 1 FROM messages m"
    " WHERE m.conversation_id = uploads.conversation_id AND m.sender_id = uploads.uploader_id"
    " AND m.client_msg_id = uploads.client_msg_id AND m.deleted_at IS NOT NULL)"
)
_QUARANTINED = "status = 'quarantined' AND created_at < ?"


def mark_for_deletion(
    db: Db, *, unsent_before: dt.datetime, quarantined_before: dt.datetime | None, limit: int
) -> int:
    """Mark up to ``limit`` uploads ``deleting`` of each kind: unsent, of deleted messages, old quarantine.

    Each kind is one conditional ``UPDATE`` that repeats its condition on the row it changes,
    so that a message claiming the upload at the same moment (:func:`claim_uploads`) either
    wins -- the upload is kept -- or finds it gone; several nodes may run this at once.
    """
    stamp = UtcDateTimeField(as_text=db.backend == "sqlite")
    kinds: list[tuple[str, tuple[Any, ...]]] = [
        (_UNSENT, (stamp.db_value(unsent_before),)),
        (_OF_DELETED_MESSAGES, ()),
    ]
    if quarantined_before is not None:
        kinds.append((_QUARANTINED, (stamp.db_value(quarantined_before),)))
    marked = 0
    for condition, params in kinds:
        cursor = db.sql(
            f"UPDATE uploads SET status = '{DELETING}' WHERE id IN"
            f" (SELECT id FROM uploads WHERE {condition} LIMIT {int(limit)}) AND {condition}",
            (*params, *params),
        )
        marked += cursor.rowcount
    return marked


def deleting(db: Db, *, limit: int) -> list[tuple[str, list[str]]]:
    """Up to ``limit`` uploads marked ``deleting``: ``(id, [storage keys of its files])``."""
    rows = db.sql(
        f"SELECT id, storage_key, thumbnail_key FROM uploads WHERE status = '{DELETING}'"
        f" ORDER BY id LIMIT {int(limit)}"
    ).fetchall()
    return [(row[0], [key for key in row[1:] if key]) for row in rows]


def key_in_use(db: Db, key: str) -> bool:
    """Whether an upload that is not being deleted needs the file ``key``, now or once its scan ends.

    An upload still being scanned (``pending``) may yet store its bytes under their SHA-256
    (in ``blobs`` or ``quarantine``) and, if it is an image, a thumbnail under a key nobody
    knows before it is made: so any pending image keeps every thumbnail.
    """
    area, digest = key.split("/", 1)[0], key.rsplit("/", 1)[-1]
    if area == "thumbs":
        row = db.sql(
            f"SELECT 1 FROM uploads WHERE (thumbnail_key = ? AND {_VISIBLE})"
            " OR (status = 'pending' AND kind = 'image') LIMIT 1",
            (key,),
        ).fetchone()
    else:
        row = db.sql(
            f"SELECT 1 FROM uploads WHERE sha256 = ? AND ((storage_key = ? AND {_VISIBLE})"
            " OR status = 'pending') LIMIT 1",
            (digest, key),
        ).fetchone()
    return row is not None


def drop_deleting(db: Db, upload_ids: list[str]) -> int:
    """Delete the rows of uploads whose files are gone (only if they are still ``deleting``)."""
    if not upload_ids:
        return 0
    placeholders = "(" + ", ".join(["?"] * len(upload_ids)) + ")"
    cursor = db.sql(
        f"DELETE FROM uploads WHERE id IN {placeholders} AND status = '{DELETING}'", tuple(upload_ids)
    )
    return cursor.rowcount
