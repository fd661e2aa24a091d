"""Two stores on one PostgreSQL schema, as two server nodes: seq and idempotency hold across them.

(Several nodes share PostgreSQL; a SQLite file serves one node.)
"""

from __future__ import annotations

import pathlib
from typing import Any

import peewee
import psycopg
import pytest
import trio

from qandu.domain import Message
from qandu.storage import Store, parse_url

ROUNDS = 6


async def _writer_pid(store: Store) -> int:
    return await store._write(lambda db: db.sql("SELECT pg_backend_pid()").fetchone()[0])


async def _until_waiting_on_locks(observer: psycopg.Connection[Any], pids: list[int]) -> None:
    """Poll from an autocommit connection: pg_stat_activity is a snapshot per transaction."""
    query = "SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND wait_event_type = 'Lock'"
    with trio.fail_after(5):
        while observer.execute(query, (pids,)).fetchone()[0] < len(pids):  # type: ignore[index]
            await trio.sleep(0.005)


async def test_two_nodes_share_seq_and_idempotency(
    open_store: Any, draft: Any, store_url: str, tmp_path: pathlib.Path
) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("several nodes need PostgreSQL")
    target = parse_url(store_url, data_dir=tmp_path)
    conninfo = target.conninfo or ""
    locker = psycopg.connect(conninfo, options=f"-c search_path={target.schema}", autocommit=True)
    observer = psycopg.connect(conninfo, autocommit=True)
    results: list[tuple[Message, bool]] = []
    try:
        async with open_store() as node_a, open_store() as node_b:
            customer = await node_a.create_user(kind="user", role="customer", name="Multi")
            conversation = await node_a.create_conversation(customer=customer, bot_user=None)
            writers = [await _writer_pid(node_a), await _writer_pid(node_b)]

            async def send(node: Store, key: str) -> None:
                message = draft(conversation.id, customer, key, client_msg_id=key)
                results.append(await node.append_message(message))

            for round_ in range(ROUNDS):
                async with trio.open_nursery() as nursery:
                    # Hold the conversation row: both nodes pass their duplicate check, then queue
                    # on the row lock; whichever goes second collides with the first one's insert.
                    locker.execute("BEGIN")
                    try:  # always let go of the row, or the nursery would wait for the writes forever
                        locker.execute(
                            "SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (conversation.id,)
                        )
                        nursery.start_soon(send, node_a, f"k{round_}")
                        nursery.start_soon(send, node_b, f"k{round_}")
                        await _until_waiting_on_locks(observer, writers)
                    finally:
                        locker.execute("COMMIT")
            replays = node_a.statistics().replays + node_b.statistics().replays
            history = await node_b.history(conversation.id, limit=100)
    finally:
        locker.close()
        observer.close()

    assert replays == ROUNDS  # a collision every round, each resolved by replaying the batch
    for round_ in range(ROUNDS):
        copies = [(message, created) for message, created in results if message.client_msg_id == f"k{round_}"]
        assert sorted(created for _, created in copies) == [False, True]
        assert copies[0][0] == copies[1][0]
    assert [m.seq for m in history] == list(range(1, ROUNDS + 1))


async def test_a_lock_held_elsewhere_fails_only_the_waiting_job(
    store_url: str, tmp_path: pathlib.Path, draft: Any, writer_held: Any
) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("row locks are PostgreSQL's")
    target = parse_url(store_url, data_dir=tmp_path)
    url = f"{store_url}&options=-c%20lock_timeout%3D300ms"  # instead of the default 10 s
    locker = psycopg.connect(
        target.conninfo or "", options=f"-c search_path={target.schema}", autocommit=True
    )
    try:
        async with Store.from_url(url, data_dir=tmp_path) as store:
            customer = await store.create_user(kind="user", role="customer", name="Locked")
            blocked = await store.create_conversation(customer=customer, bot_user=None)
            free = await store.create_conversation(customer=customer, bot_user=None)
            outcomes: dict[str, Any] = {}

            async def send(name: str, conversation_id: str) -> None:
                try:
                    outcomes[name] = (await store.append_message(draft(conversation_id, customer)))[0].seq
                except peewee.OperationalError as error:
                    outcomes[name] = error

            locker.execute("BEGIN")
            try:
                locker.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (blocked.id,))
                with trio.fail_after(5):
                    async with trio.open_nursery() as nursery, writer_held(store):
                        nursery.start_soon(send, "blocked", blocked.id)
                        nursery.start_soon(send, "free", free.id)
            finally:
                locker.execute("ROLLBACK")
            assert isinstance(outcomes["blocked"], peewee.OperationalError)
            assert outcomes["free"] == 1
            assert store.statistics().largest_batch == 2
            assert [m.seq for m in await store.history(free.id)] == [1]
            assert await store.history(blocked.id) == []
    finally:
        locker.close()
