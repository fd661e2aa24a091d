"""Teamwork storage on SQLite and PostgreSQL: search, tags, follow-up claims, archive, plugin schemas."""

from __future__ import annotations

import datetime as dt

import pytest
import trio

from qandu.domain import utcnow
from qandu.errors import InvalidRequest
from qandu.storage import followups, review, search, tags
from qandu.storage.review import ReviewFilter


async def _conversation(store, customer):
    return await store.create_conversation(customer=customer, bot_user=None)


async def test_search_finds_words_and_prefixes_and_follows_edits(store, customer, agent, draft):
    conversation = await _conversation(store, customer)
    cid = conversation.id
    hello, _ = await store.append_message(draft(cid, customer, "Hello, where is my Bestellung NL-48213?"))
    refund, _ = await store.append_message(draft(cid, agent, "Your refund was approved", private=True))
    await store.append_message(draft(cid, customer, "refunded? great"))

    async def find(query, include_private=True):
        found = await store.run_read(search.search_messages, query, include_private=include_private)
        return [m.id for m in found]

    assert await find("bestellung") == [hello.id]
    assert await find("48213") == [hello.id]
    assert len(await find("refund")) == 2
    assert await find("refund approved") == [refund.id]
    assert await find("refund", include_private=False) == [(await find("refunded"))[0]]
    assert await find("where bestell") == [hello.id]
    await store.edit_message(refund.id, text="Your money is on its way", editor_id=agent.id)
    assert await find("refund approved") == []
    assert await find("money") == [refund.id]
    await store.delete_message(hello.id, by_id=customer.id)
    assert await find("bestellung") == []
    with pytest.raises(InvalidRequest):
        await find("!!!")


async def test_tags_filter_and_tombstones(store, customer, agent):
    first = await _conversation(store, customer)
    second = await _conversation(store, customer)
    conversation, added = await store.run_write(
        tags.add_tags, first.id, ["vip", "billing"], source="manual", by=agent.id
    )
    assert (conversation.tags, added) == (("vip", "billing"), ["vip", "billing"])
    await store.run_write(tags.add_tags, second.id, ["billing"], source="auto", by=None)
    assert {c.id for c in await store.list_conversations(tag="billing")} == {first.id, second.id}
    assert [c.id for c in await store.list_conversations(tag="vip")] == [first.id]

    conversation = await store.run_write(tags.remove_tag, first.id, "vip", by=agent.id)
    assert conversation.tags == ("billing",)
    _, added = await store.run_write(tags.add_tags, first.id, ["vip"], source="auto", by=None)
    assert added == []  # removed by a person: automatic tagging does not bring it back
    _, added = await store.run_write(tags.add_tags, first.id, ["vip"], source="manual", by=agent.id)
    assert added == ["vip"]
    assert await store.run_read(tags.tag_counts) == [("billing", 2), ("vip", 1)]
    found = await store.run_read(review.review_conversations, ReviewFilter(tags=("billing", "vip")))
    assert [c.id for c in found] == [first.id]


async def test_two_stores_never_claim_the_same_follow_up(open_store, customer, agent, store):
    conversation = await _conversation(store, customer)
    due = utcnow() - dt.timedelta(seconds=1)
    for n in range(30):
        await store.run_write(
            followups.create, conversation.id, kind="message", text=f"m{n}", due_at=due, by=agent.id
        )
    claims: dict[str, list[str]] = {"a": [], "b": []}
    async with open_store() as other:

        async def claim(node, on):
            while True:
                got = await on.run_write(followups.claim_due, node=node, now=utcnow(), lease=60, limit=3)
                if not got:
                    return
                claims[node] += [job.id for job in got]
                await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(claim, "a", store)
            nursery.start_soon(claim, "b", other)
    every = claims["a"] + claims["b"]
    assert len(every) == len(set(every)) == 30
    job = await store.run_read(followups.get, every[0])
    node = "a" if every[0] in claims["a"] else "b"
    assert await store.run_write(followups.finish, job.id, node="someone else", message_id=None) is False
    assert await store.run_write(followups.finish, job.id, node=node, message_id="m1") is True
    assert (await store.run_read(followups.get, job.id)).status == "done"


async def test_an_expired_lease_is_claimed_again_and_failures_are_retried_then_given_up(
    store, customer, agent
):
    conversation = await _conversation(store, customer)
    job = await store.run_write(
        followups.create, conversation.id, kind="reminder", text=None, due_at=utcnow(), by=agent.id
    )
    [claimed] = await store.run_write(followups.claim_due, node="a", now=utcnow(), lease=0.05)
    assert await store.run_write(followups.claim_due, node="b", now=utcnow(), lease=60) == []
    await trio.sleep(0.1)
    [again] = await store.run_write(followups.claim_due, node="b", now=utcnow(), lease=60)
    assert (claimed.id, again.id, again.attempts) == (job.id, job.id, 2)
    assert await store.run_write(followups.finish, job.id, node="a", message_id=None) is False
    for _ in range(followups.MAX_ATTEMPTS):
        [claimed] = await store.run_write(followups.claim_due, node="b", now=utcnow(), lease=60) or [again]
        await store.run_write(followups.fail, job.id, node="b", error="db down", retry_at=utcnow())
    final = await store.run_read(followups.get, job.id)
    assert (final.status, final.error) == ("failed", "db down")
    assert await store.run_read(followups.next_due) is None


async def test_archive_checks_each_conversation_in_the_transaction(store, customer, agent):
    old = await _conversation(store, customer)
    reopened = await _conversation(store, customer)
    fresh = await _conversation(store, customer)
    for conversation in (old, reopened):
        await store.set_status(conversation.id, "resolved", by=agent.id)
    await store.set_status(reopened.id, "active", by=customer.id)
    cutoff = utcnow() + dt.timedelta(seconds=1)
    await store.set_status(fresh.id, "resolved", by=agent.id)
    archived = await store.run_write(review.archive_resolved, resolved_before=cutoff, reason="auto")
    assert {c.id for c, _ in archived} >= {old.id}
    assert reopened.id not in {c.id for c, _ in archived}
    assert await store.run_write(review.archive_resolved, resolved_before=cutoff, reason="auto") == []
    assert [c.to_status for c in await store.status_history(old.id)] == ["resolved", "archived"]


async def test_plugin_migrations_apply_once_per_plugin(store, open_store):
    calls = []

    def v1(db):
        calls.append("v1")
        db.sql("CREATE TABLE plugin_demo_items (id TEXT PRIMARY KEY, n INTEGER NOT NULL)")

    def v2(db):
        calls.append("v2")
        db.sql("ALTER TABLE plugin_demo_items ADD COLUMN note TEXT")

    assert await store.migrate_plugin("demo", [v1]) == 1
    assert await store.migrate_plugin("demo", [v1, v2]) == 2
    async with open_store() as again:
        assert await again.migrate_plugin("demo", [v1, v2]) == 2
        with pytest.raises(RuntimeError, match="newer"):
            await again.migrate_plugin("demo", [v1])
    assert calls == ["v1", "v2"]
    await store.run_write(
        lambda db: db.sql("INSERT INTO plugin_demo_items (id, n, note) VALUES (?, ?, ?)", ("x", 1, "y"))
    )


async def test_review_filters_on_stored_annotations(store, customer, draft):
    refund = await _conversation(store, customer)
    other = await _conversation(store, customer)
    m1, _ = await store.append_message(draft(refund.id, customer, "I want my money back"))
    m2, _ = await store.append_message(draft(other.id, customer, "hello"))
    await store.save_annotations(
        m1.id,
        {"intent": {"name": "refund", "confidence": 0.9}, "sentiment": {"score": -0.7, "label": "negative"}},
    )
    await store.save_annotations(m2.id, {"intent": {"name": "greeting", "confidence": 0.9}})

    async def ids(**where):
        return {c.id for c in await store.run_read(review.review_conversations, ReviewFilter(**where))}

    assert await ids(intent="refund") == {refund.id}
    assert await ids(intent="greeting") == {other.id}
    assert await ids(sentiment="negative") == {refund.id}
    assert await ids(intent="refund", sentiment="positive") == set()


def test_the_migration_indexes_messages_and_tags_that_existed_before(tmp_path):
    """An existing database: its messages become searchable and its tags filterable."""
    import peewee

    from qandu.storage import migrations
    from qandu.storage.models import bind

    database = peewee.SqliteDatabase(str(tmp_path / "old.sqlite3"))
    index = migrations.MIGRATIONS.index(migrations.teamwork_migration)
    with database.atomic():
        database.execute_sql(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for version, migration in enumerate(migrations.MIGRATIONS[:index], start=1):
            migration(database, migrations.DIALECTS["sqlite"])
            database.execute_sql(
                "INSERT INTO schema_version VALUES (?, '2025-01-01 00:00:00.000')", (version,)
            )
        stamp = "2025-01-01 00:00:00.000"
        database.execute_sql(
            "INSERT INTO conversations (id, status, priority, source, tags, last_seq, started_at,"
            " last_message_at, updated_at) VALUES ('c1', 'active', 'medium', 'api', '[\"vip\"]', 1, ?, ?, ?)",
            (stamp, stamp, stamp),
        )
        database.execute_sql(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_type, sender_name,"
            " content_type, text, attachments, private, created_at)"
            " VALUES ('m1', 'c1', 1, 'u', 'user', 'U', 'text', 'an old refund question', '[]', 0, ?)",
            (stamp,),
        )
    migrations.apply_migrations(database, "sqlite")
    db = bind(database, "sqlite")
    assert [m.id for m in search.search_messages(db, "refund")] == ["m1"]
    assert [c.id for c in review.review_conversations(db, ReviewFilter(tags=("vip",)))] == ["c1"]
    database.close()


async def test_threads_follow_reply_chains(store, customer, agent, draft):
    conversation = await _conversation(store, customer)
    cid = conversation.id
    root, _ = await store.append_message(draft(cid, customer, "question"))
    await store.append_message(draft(cid, customer, "unrelated"))
    answer, _ = await store.append_message(draft(cid, agent, "answer", reply_to=root.id))
    note, _ = await store.append_message(draft(cid, agent, "note", reply_to=answer.id, private=True))
    thanks, _ = await store.append_message(draft(cid, customer, "thanks", reply_to=answer.id))
    found_root, replies = await store.run_read(review.thread, thanks.id, include_private=True)
    assert (found_root.id, [m.id for m in replies]) == (root.id, [answer.id, note.id, thanks.id])
    _, replies = await store.run_read(review.thread, root.id, include_private=False)
    assert [m.id for m in replies] == [answer.id, thanks.id]
