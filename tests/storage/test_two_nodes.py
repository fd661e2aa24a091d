"""Two stores on one PostgreSQL schema, as two server nodes: seq and idempotency hold across them.

(Several nodes share PostgreSQL; a SQLite file serves one node, and holding two SQLite writers
inside their transactions at once, as this test does, would just time out on the lock.)
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio
import trio.testing

from qandu.domain import Message
from qandu.storage import Store


async def _held_together(
    stores: list[Store],
    release: threading.Event,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Block every store's writer inside a job until ``release`` is set; started once all are."""
    entered = [threading.Event() for _ in stores]

    def gate(index: int) -> Any:
        def run(db: object) -> None:
            entered[index].set()
            release.wait(10)

        return run

    async with trio.open_nursery() as nursery:
        for index, store in enumerate(stores):
            nursery.start_soon(store._write, gate(index))
        for event in entered:
            await trio.to_thread.run_sync(event.wait, 10)
        task_status.started()


async def test_two_nodes_share_seq_and_idempotency(open_store: Any, draft: Any, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("several nodes need PostgreSQL")
    async with open_store() as node_a, open_store() as node_b:
        customer = await node_a.create_user(kind="user", role="customer", name="Multi")
        conversation = await node_a.create_conversation(customer=customer, bot_user=None)
        results: list[tuple[Message, bool]] = []

        async def send(node: Store, key: str) -> None:
            results.append(
                await node.append_message(draft(conversation.id, customer, key, client_msg_id=key))
            )

        for round_ in range(8):
            release = threading.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(_held_together, [node_a, node_b], release)
                nursery.start_soon(send, node_a, f"k{round_}")
                nursery.start_soon(send, node_b, f"k{round_}")
                nursery.start_soon(send, node_b, f"solo{round_}")
                await trio.testing.wait_all_tasks_blocked()
                release.set()

        by_key: dict[str, list[tuple[Message, bool]]] = {}
        for message, created in results:
            by_key.setdefault(message.client_msg_id or "", []).append((message, created))
        for key, copies in by_key.items():
            assert sum(created for _, created in copies) == 1, key
            assert len({message.id for message, _ in copies}) == 1, key
        history = await node_b.history(conversation.id, limit=100)
        assert [m.seq for m in history] == list(range(1, 17))  # 8 shared keys + 8 solo, no gaps
        # both nodes checked before either committed, so one insert collided and was replayed
        assert node_a.statistics().replays + node_b.statistics().replays > 0
