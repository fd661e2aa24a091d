"""The threads: group commit, per-job failure, commit failure, cancellation, close and durability."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from qandu.domain import Conversation, User
from qandu.errors import NotFound
from qandu.storage import CommitFailed, Store, StoreClosed


@pytest.fixture
async def conversation(store: Store, customer: User) -> Conversation:
    return await store.create_conversation(customer=customer, bot_user=None)


async def test_failing_job_does_not_fail_its_batch(
    store: Store, conversation: Conversation, customer: User, draft: Any, writer_held: Any
) -> None:
    outcomes: dict[str, Any] = {}

    async def attempt(name: str, conversation_id: str) -> None:
        try:
            outcomes[name] = (await store.append_message(draft(conversation_id, customer, name)))[0].seq
        except NotFound as error:
            outcomes[name] = error

    async with trio.open_nursery() as nursery, writer_held(store):
        nursery.start_soon(attempt, "a", conversation.id)
        nursery.start_soon(attempt, "bad", "missing")
        nursery.start_soon(attempt, "b", conversation.id)
    assert store.statistics().largest_batch == 3
    assert isinstance(outcomes.pop("bad"), NotFound)
    assert sorted(outcomes.values()) == [1, 2]
    assert [m.content.text for m in await store.history(conversation.id)] == sorted(
        outcomes, key=outcomes.get
    )


def _fail_at_commit(db: Any) -> None:
    """Leave the batch transaction unable to commit."""
    if db.backend == "sqlite":  # a deferred foreign key violation is only checked at COMMIT
        db.sql("PRAGMA defer_foreign_keys = ON")
        db.sql(
            "INSERT INTO participants (conversation_id, user_id, type, role, joined_at)"
            " VALUES ('x', 'y', 'user', 'customer', '')"
        )
    else:  # the connection dies under the transaction
        db.sql("SELECT pg_terminate_backend(pg_backend_pid())")


async def test_failed_commit_fails_the_whole_batch(
    store: Store, conversation: Conversation, customer: User, draft: Any, writer_held: Any
) -> None:
    errors: list[BaseException] = []

    async def attempt(job: Any) -> None:
        try:
            await job()
        except CommitFailed as error:
            errors.append(error)

    async with trio.open_nursery() as nursery, writer_held(store):
        nursery.start_soon(attempt, lambda: store.append_message(draft(conversation.id, customer)))
        nursery.start_soon(attempt, lambda: store._write(_fail_at_commit))
    assert len(errors) == 2 and all(isinstance(error, CommitFailed) for error in errors)
    assert await store.history(conversation.id) == []
    # the writer recovers (on a fresh connection) for the next batch
    message, _ = await store.append_message(draft(conversation.id, customer))
    assert message.seq == 1


async def test_cancelled_writer_still_commits(
    store: Store, conversation: Conversation, customer: User, draft: Any, writer_held: Any
) -> None:
    scope = trio.CancelScope()
    returned: list[int] = []

    async def send() -> None:
        with scope:
            returned.append((await store.append_message(draft(conversation.id, customer, "kept")))[0].seq)

    async with trio.open_nursery() as nursery, writer_held(store):
        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()  # the job is queued; the caller waits for it, shielded
    assert returned == [1]
    assert [m.content.text for m in await store.history(conversation.id)] == ["kept"]


async def test_reads_do_not_wait_for_the_writer(
    store: Store, conversation: Conversation, writer_held: Any
) -> None:
    async with writer_held(store):
        with trio.fail_after(5):
            assert await store.get_conversation(conversation.id) is not None
            assert await store.history(conversation.id) == []


async def test_cancelled_read_is_abandoned(store: Store, conversation: Conversation) -> None:
    with trio.move_on_after(0):
        await store.history(conversation.id)
    assert await store.get_conversation(conversation.id) is not None


async def test_close_commits_everything_queued(open_store: Any, draft: Any, writer_held: Any) -> None:
    store = open_store()
    await store.open()
    customer = await store.create_user(kind="user", role="customer", name="Dana")
    conversation = await store.create_conversation(customer=customer, bot_user=None)
    seqs: list[int] = []

    async def send(n: int) -> None:
        seqs.append((await store.append_message(draft(conversation.id, customer, f"m{n}")))[0].seq)

    async with trio.open_nursery() as nursery, writer_held(store):
        for n in range(30):
            nursery.start_soon(send, n)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(store.aclose)
    assert sorted(seqs) == list(range(1, 31))
    with pytest.raises(StoreClosed):
        await store.get_conversation(conversation.id)
    async with open_store() as reopened:
        assert [m.seq for m in await reopened.history(conversation.id, limit=100)] == list(range(1, 31))


async def test_data_survives_close_and_reopen(open_store: Any, draft: Any) -> None:
    async with open_store() as store:
        customer = await store.create_user(kind="user", role="customer", name="Eve", email="eve@example.com")
        conversation = await store.create_conversation(customer=customer, bot_user=None)
        message, _ = await store.append_message(
            draft(conversation.id, customer, "remember me", client_msg_id="r")
        )
    async with open_store() as store:
        assert await store.find_login("eve@example.com") == (customer, None)
        assert await store.history(conversation.id) == [message]
        again, created = await store.append_message(
            draft(conversation.id, customer, "remember me", client_msg_id="r")
        )
        assert again == message and not created


async def test_store_lifecycle_errors(open_store: Any) -> None:
    store: Store = open_store()
    with pytest.raises(StoreClosed):
        await store.get_user("x")
    async with store:
        with pytest.raises(RuntimeError):
            await store.open()
    await store.aclose()  # closing twice is harmless
    with pytest.raises(StoreClosed):
        await store.get_user("x")
