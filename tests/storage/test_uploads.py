"""The uploads table on SQLite and PostgreSQL: rows, verdicts, claims by messages, clean-up."""

from __future__ import annotations

import datetime as dt

import attrs

from qandu.domain import utcnow
from qandu.files import Upload, Verdict
from qandu.files import records as r


def upload(conversation_id: str, uploader_id: str, upload_id: str = "f_1", **fields) -> Upload:
    return Upload(
        id=upload_id,
        conversation_id=conversation_id,
        uploader_id=uploader_id,
        name="a.pdf",
        size=10,
        sha256="ab" * 32,
        mime_type="application/pdf",
        kind="document",
        created_at=utcnow(),
        **{"status": "pending", **fields},
    )


async def test_rows_round_trip_with_their_verdicts(store, customer, bot, draft):
    conversation = await store.create_conversation(customer=customer, bot_user=bot)
    row = upload(conversation.id, customer.id, declared_type="application/pdf")
    await store.run_write(r.insert_upload, row)
    assert await store.run_read(r.get_upload, "f_1") == row
    done = attrs.evolve(
        row,
        status="quarantined",
        reason="bad",
        verdicts=(Verdict.reject("bad", "x", rules=["r1"]), Verdict.accept("core")),
        storage_key="quarantine/ab/ab/" + "ab" * 32,
        scanned_at=utcnow(),
    )
    await store.run_write(r.save_upload, done)
    assert await store.run_read(r.get_upload, "f_1") == done
    assert await store.run_read(r.get_uploads, ["f_1", "f_none"]) == {"f_1": done}
    listed = await store.run_read(
        r.list_uploads, status="quarantined", conversation_id=None, before=None, limit=10
    )
    assert listed == [done]
    assert (
        await store.run_read(r.list_uploads, status="clean", conversation_id=None, before=None, limit=10)
        == []
    )


async def test_an_upload_is_claimed_by_one_message_and_released_if_it_was_not_stored(
    store, customer, bot, draft
):
    conversation = await store.create_conversation(customer=customer, bot_user=bot)
    await store.run_write(r.insert_upload, upload(conversation.id, customer.id, status="clean"))
    assert await store.run_write(r.claim_uploads, ["f_1"], "m1") == ["f_1"]
    assert await store.run_write(r.claim_uploads, ["f_1"], "m2") == []  # held by m1
    assert await store.run_write(r.claim_uploads, ["f_1"], "m1") == ["f_1"]  # a resend
    claimed = await store.run_read(r.get_upload, "f_1")
    assert await store.run_read(r.sent_message, claimed) is None  # m1 not stored (yet)
    await store.run_write(r.release_uploads, ["f_1"], "m1")
    assert await store.run_write(r.claim_uploads, ["f_1"], "m2") == ["f_1"]
    message, _ = await store.append_message(
        draft(conversation.id, customer, client_msg_id="m2", private=False)
    )
    claimed = await store.run_read(r.get_upload, "f_1")
    assert await store.run_read(r.sent_message, claimed) == (message.id, False, False)
    await store.run_write(r.release_uploads, ["f_1"], "m2")  # stored: nothing to release
    assert (await store.run_read(r.get_upload, "f_1")).client_msg_id == "m2"
    await store.delete_message(message.id, by_id=customer.id)
    assert await store.run_read(r.sent_message, claimed) == (message.id, False, True)


async def test_interrupted_scans_are_marked_failed(store, customer, bot):
    conversation = await store.create_conversation(customer=customer, bot_user=bot)
    old = upload(conversation.id, customer.id, "f_old")
    await store.run_write(r.insert_upload, attrs.evolve(old, created_at=utcnow() - dt.timedelta(hours=2)))
    await store.run_write(r.insert_upload, upload(conversation.id, customer.id, "f_new"))
    assert await store.run_write(r.fail_stale_pending, utcnow() - dt.timedelta(hours=1)) == 1
    assert (await store.run_read(r.get_upload, "f_old")).status == "failed"
    assert (await store.run_read(r.get_upload, "f_new")).status == "pending"
