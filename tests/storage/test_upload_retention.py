"""File retention on SQLite and PostgreSQL: which uploads go, which files go with them, and
two nodes cleaning up at once while the same bytes are uploaded again (qandu.files.retention)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pathlib
from typing import Any

import attrs
import psycopg
import trio

from qandu.config import FilesConfig
from qandu.domain import User, utcnow
from qandu.files import LocalFileStore, Upload
from qandu.files import records as r
from qandu.files.blobs import SpoolFile
from qandu.files.retention import Cleanup, CleanupResult
from qandu.storage import Store, parse_url
from qandu.storage.fields import UtcDateTimeField

OLD = utcnow() - dt.timedelta(days=2)
DAY = 86400.0


def upload(
    conversation_id: str, uploader: User, upload_id: str, data: bytes = b"pdf", **fields: Any
) -> Upload:
    sha = hashlib.sha256(data).hexdigest()
    values: dict[str, Any] = {
        "status": "clean",
        "created_at": OLD,
        "storage_key": LocalFileStore.key_for(sha, "blobs"),
        **fields,
    }
    return Upload(
        id=upload_id,
        conversation_id=conversation_id,
        uploader_id=uploader.id,
        name=f"{upload_id}.pdf",
        size=len(data),
        sha256=sha,
        mime_type="application/pdf",
        kind="document",
        **values,
    )


async def mark_all(store: Store, *, quarantined_before: dt.datetime | None = None, limit: int = 100) -> int:
    total = 0
    while marked := await store.run_write(
        r.mark_for_deletion, unsent_before=utcnow() - dt.timedelta(days=1),
        quarantined_before=quarantined_before, limit=limit,
    ):  # fmt: skip
        total += marked
    return total


async def sent(store: Store, draft: Any, conversation_id: str, sender: User, client_msg_id: str) -> str:
    message, _ = await store.append_message(draft(conversation_id, sender, client_msg_id=client_msg_id))
    return message.id


async def test_what_the_clean_up_marks(store: Store, customer: User, bot: User, draft: Any) -> None:
    cid = (await store.create_conversation(customer=customer, bot_user=bot)).id
    rows = {
        "f_unsent_old": upload(cid, customer, "f_unsent_old"),
        "f_unsent_new": upload(cid, customer, "f_unsent_new", created_at=utcnow()),
        "f_failed_old": upload(cid, customer, "f_failed_old", status="failed", storage_key=None),
        "f_sent": upload(cid, customer, "f_sent", client_msg_id="m1"),
        "f_of_deleted": upload(cid, customer, "f_of_deleted", created_at=utcnow(), client_msg_id="m2"),
        "f_claimed_unstored": upload(cid, customer, "f_claimed_unstored", client_msg_id="m3"),
        "f_quarantined": upload(cid, customer, "f_quarantined", status="quarantined"),
        "f_pending": upload(cid, customer, "f_pending", status="pending", storage_key=None),
    }
    for row in rows.values():
        await store.run_write(r.insert_upload, row)
    await sent(store, draft, cid, customer, "m1")
    await store.delete_message(await sent(store, draft, cid, customer, "m2"), by_id=customer.id)

    assert await mark_all(store, limit=1) == 3  # in batches of one
    gone = {"f_unsent_old", "f_failed_old", "f_of_deleted"}
    for upload_id in rows:
        assert (await store.run_read(r.get_upload, upload_id) is None) == (upload_id in gone)
    listed = await store.run_read(r.list_uploads, status=None, conversation_id=cid, before=None, limit=50)
    assert {u.id for u in listed} == set(rows) - gone
    assert sorted(await store.run_read(r.get_uploads, list(rows))) == sorted(set(rows) - gone)
    assert await store.run_write(r.claim_uploads, ["f_unsent_old"], "m9") == []  # too late to send it
    assert sorted(upload_id for upload_id, _ in await store.run_read(r.deleting, limit=10)) == sorted(gone)
    assert await mark_all(store) == 0  # idempotent
    assert await mark_all(store, quarantined_before=utcnow() - dt.timedelta(days=1)) == 1
    assert await store.run_read(r.get_upload, "f_quarantined") is None


async def test_which_files_are_still_in_use(store: Store, customer: User, bot: User) -> None:
    cid = (await store.create_conversation(customer=customer, bot_user=bot)).id
    thumb = LocalFileStore.key_for("7" * 64, "thumbs")
    going = upload(cid, customer, "f_going", b"shared", thumbnail_key=thumb)
    await store.run_write(r.insert_upload, going)
    assert await store.run_read(r.key_in_use, going.storage_key)
    await mark_all(store)
    for key in (going.storage_key, thumb):  # only an upload being deleted uses them
        assert not await store.run_read(r.key_in_use, key)

    await store.run_write(r.insert_upload, upload(cid, customer, "f_live", b"shared", created_at=utcnow()))
    assert await store.run_read(r.key_in_use, going.storage_key)
    assert not await store.run_read(r.key_in_use, LocalFileStore.key_for(going.sha256, "quarantine"))
    assert not await store.run_read(r.key_in_use, thumb)
    # an upload being scanned may yet store its bytes (blobs or quarantine) or any thumbnail
    scanning = upload(cid, customer, "f_scanning", b"alone", status="pending", storage_key=None)
    await store.run_write(r.insert_upload, attrs.evolve(scanning, kind="image"))
    for area in ("blobs", "quarantine"):
        assert await store.run_read(r.key_in_use, LocalFileStore.key_for(scanning.sha256, area))
    assert await store.run_read(r.key_in_use, thumb)

    assert await store.run_read(r.deleting, limit=10) == [("f_going", [going.storage_key, thumb])]
    assert await store.run_write(r.drop_deleting, ["f_going", "f_live"]) == 1
    assert await store.run_read(r.get_upload, "f_live") is not None
    assert await store.run_read(r.deleting, limit=10) == []


async def _writer_pid(store: Store) -> int:
    return await store._write(lambda db: db.sql("SELECT pg_backend_pid()").fetchone()[0])


async def _until_waiting_on_locks(observer: psycopg.Connection[Any], pids: list[int]) -> None:
    query = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'"
    with trio.fail_after(10):
        while observer.execute(query, (pids,)).fetchone()[0] < len(pids):  # type: ignore[index]
            await trio.sleep(0.005)


async def test_a_message_and_the_clean_up_racing_for_an_upload_never_both_win(
    open_store: Any, store_url: str, tmp_path: pathlib.Path
) -> None:
    """Two nodes: one sends the upload in a message, the other cleans it up, at the same moment.

    On PostgreSQL a third connection holds the row's lock until both nodes wait for it, so
    that the second to get it must see the first one's change; on SQLite writes serialize.
    """
    postgres = store_url.startswith("postgres")
    locker = observer = None
    if postgres:
        target = parse_url(store_url, data_dir=tmp_path)
        locker = psycopg.connect(
            target.conninfo or "", options=f"-c search_path={target.schema}", autocommit=True
        )
        observer = psycopg.connect(target.conninfo or "", autocommit=True)
    winners = []
    try:
        async with open_store() as node_a, open_store() as node_b:
            customer = await node_a.create_user(kind="user", role="customer", name="Racer")
            cid = (await node_a.create_conversation(customer=customer, bot_user=None)).id
            writers = [await _writer_pid(node_a), await _writer_pid(node_b)] if postgres else []
            for round_ in range(6):
                upload_id = f"f_{round_}"
                await node_a.run_write(r.insert_upload, upload(cid, customer, upload_id))
                claimed: list[list[str]] = []

                async def claim(upload_id: str = upload_id, claimed: list[list[str]] = claimed) -> None:
                    claimed.append(await node_a.run_write(r.claim_uploads, [upload_id], f"m{upload_id}"))

                async with trio.open_nursery() as nursery:
                    if locker is not None and observer is not None:
                        locker.execute("BEGIN")
                        try:
                            locker.execute("SELECT 1 FROM uploads WHERE id = %s FOR UPDATE", (upload_id,))
                            nursery.start_soon(claim)
                            nursery.start_soon(mark_all, node_b)
                            await _until_waiting_on_locks(observer, writers)
                        finally:
                            locker.execute("COMMIT")
                    else:
                        nursery.start_soon(claim)
                        nursery.start_soon(mark_all, node_b)
                row = await node_b.run_read(
                    lambda db, upload_id=upload_id: db.sql(
                        "SELECT status, client_msg_id FROM uploads WHERE id = ?", (upload_id,)
                    ).fetchone()
                )
                if claimed == [[upload_id]]:
                    assert tuple(row) == ("clean", f"m{upload_id}")
                    winners.append("message")
                else:
                    assert claimed == [[]] and tuple(row) == ("deleting", None)
                    winners.append("clean-up")
    finally:
        for connection in (locker, observer):
            if connection is not None:
                connection.close()
    assert len(winners) == 6, winners


async def put(blobs: LocalFileStore, spool_dir: pathlib.Path, data: bytes, area: str = "blobs") -> str:
    """Store ``data`` the way an upload does: spooled, then moved into the store."""
    async with SpoolFile(spool_dir) as spool:
        await spool.write(data)
        sha = await spool.finish()
        return await blobs.put(spool.path, sha256=sha, area=area)


async def test_the_clean_up_deletes_files_no_upload_uses(
    store: Store, customer: User, bot: User, draft: Any, tmp_path: pathlib.Path
) -> None:
    blobs = LocalFileStore(tmp_path / "files")
    spool_dir = tmp_path / "files" / "tmp"
    cleanup = Cleanup(FilesConfig(unsent_ttl=DAY), store, blobs)
    cid = (await store.create_conversation(customer=customer, bot_user=bot)).id
    shared = await put(blobs, spool_dir, b"shared bytes")
    alone = await put(blobs, spool_dir, b"only in a deleted message")
    quarantined = await put(blobs, spool_dir, b"evil", area="quarantine")
    fresh = await put(blobs, spool_dir, b"just uploaded")
    thumb = await blobs.put_bytes(b"webp", area="thumbs")
    rows = [
        upload(cid, customer, "f_unsent", b"shared bytes", thumbnail_key=thumb),
        upload(cid, customer, "f_sent", b"shared bytes", thumbnail_key=thumb, client_msg_id="m1"),
        upload(cid, customer, "f_deleted", b"only in a deleted message", client_msg_id="m2"),
        upload(cid, customer, "f_evil", b"evil", status="quarantined", storage_key=quarantined),
        upload(cid, customer, "f_fresh", b"just uploaded", created_at=utcnow()),
    ]
    for row in rows:
        await store.run_write(r.insert_upload, row)
    m1 = await sent(store, draft, cid, customer, "m1")
    await store.delete_message(await sent(store, draft, cid, customer, "m2"), by_id=customer.id)

    assert await cleanup.sweep() == CleanupResult(uploads=2, files=1)  # f_unsent, f_deleted; `alone`
    assert [await blobs.exists(key) for key in (shared, alone, quarantined, fresh, thumb)] == [
        True, False, True, True, True,
    ]  # fmt: skip
    assert await cleanup.sweep() == CleanupResult()

    await store.delete_message(m1, by_id=customer.id)  # the last upload of `shared` and `thumb`
    assert await cleanup.sweep() == CleanupResult(uploads=1, files=2)
    assert not await blobs.exists(shared) and not await blobs.exists(thumb)
    assert await blobs.exists(quarantined) and await blobs.exists(fresh)
    assert not list((tmp_path / "files" / "trash").iterdir())

    kept_for = Cleanup(FilesConfig(unsent_ttl=DAY, quarantine_ttl=DAY), store, blobs)
    assert await kept_for.sweep() == CleanupResult(uploads=1, files=1)
    assert not await blobs.exists(quarantined)


async def test_files_left_aside_by_an_interrupted_run_are_finished(
    store: Store, customer: User, bot: User, tmp_path: pathlib.Path
) -> None:
    """A node that stopped between moving a file aside and deleting it (or putting it back)."""
    blobs = LocalFileStore(tmp_path / "files")
    cid = (await store.create_conversation(customer=customer, bot_user=bot)).id
    used = await put(blobs, tmp_path / "spool", b"still used")
    unused = await put(blobs, tmp_path / "spool", b"nobody's")
    await store.run_write(
        r.insert_upload, upload(cid, customer, "f_used", b"still used", created_at=utcnow())
    )
    trash = tmp_path / "files" / "trash"
    trash.mkdir()
    for key in (used, unused):
        area, digest = key.split("/")[0], key.rsplit("/", 1)[-1]
        os.rename(tmp_path / "files" / key, trash / f"{area}.{digest}.{'0' * 16}")
    assert await Cleanup(FilesConfig(), store, blobs).sweep() == CleanupResult(files=1)
    assert await blobs.exists(used) and not await blobs.exists(unused)
    assert list(trash.iterdir()) == []


async def test_two_nodes_cleaning_up_while_the_same_bytes_are_uploaded_again(
    open_store: Any, tmp_path: pathlib.Path
) -> None:
    """Every round: an old unsent upload is cleaned up by two nodes at once while a new upload
    of the same bytes is recorded and stored (as FileService.accept does: row first, then bytes).
    The new upload's file must exist afterwards, whoever did what in which order."""
    blobs = LocalFileStore(tmp_path / "files")  # one directory shared by both nodes
    data = b"the same invoice, sent again"
    sha = hashlib.sha256(data).hexdigest()
    async with open_store() as node_a, open_store() as node_b:
        customer = await node_a.create_user(kind="user", role="customer", name="Again")
        cid = (await node_a.create_conversation(customer=customer, bot_user=None)).id
        cleanups = [Cleanup(FilesConfig(unsent_ttl=DAY), node, blobs) for node in (node_a, node_b)]
        for round_ in range(15):
            await node_a.run_write(r.insert_upload, upload(cid, customer, f"f_old{round_}", data))
            await put(blobs, tmp_path / "spool", data)
            new = upload(cid, customer, f"f_new{round_}", data, created_at=utcnow())

            async def upload_again(new: Upload = new) -> None:
                pending = attrs.evolve(new, status="pending", storage_key=None)
                await node_b.run_write(r.insert_upload, pending)
                await trio.sleep(0)
                key = await put(blobs, tmp_path / "spool", data)
                await node_b.run_write(r.save_upload, attrs.evolve(new, storage_key=key))

            async with trio.open_nursery() as nursery:
                for cleanup in cleanups:
                    nursery.start_soon(cleanup.sweep)
                nursery.start_soon(upload_again)
            assert await blobs.exists(new.storage_key or ""), f"round {round_}: the new upload lost its file"
            # and once it is old and unsent too, the file goes
            await node_a.run_write(
                lambda db, upload_id=new.id: db.sql(
                    "UPDATE uploads SET created_at = ? WHERE id = ?",
                    (UtcDateTimeField(as_text=db.backend == "sqlite").db_value(OLD), upload_id),
                )
            )
            await cleanups[round_ % 2].sweep()
            assert not await blobs.exists(LocalFileStore.key_for(sha, "blobs"))
        assert (
            await node_a.run_read(r.list_uploads, status=None, conversation_id=cid, before=None, limit=5)
            == []
        )
