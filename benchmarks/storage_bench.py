"""Storage benchmarks: group-commit append throughput and keyset history latency.

Run: ``.venv/bin/python benchmarks/storage_bench.py [--url URL] [--tasks 100] [--messages 20000]
[--rows 1000000]``.  Uses a temporary SQLite file unless ``--url`` is given.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from typing import Any

import trio

from qandu.domain import Content, Message, User, utcnow
from qandu.storage import MessageDraft, Store, messages
from qandu.storage.fields import sqlite_timestamp


async def _setup(store: Store, conversations: int) -> tuple[User, list[str]]:
    customer = await store.create_user(kind="user", role="customer", name="Bench")
    ids = []
    for _ in range(conversations):
        conversation = await store.create_conversation(customer=customer, bot_user=None)
        ids.append(conversation.id)
    return customer, ids


async def bench_appends(store: Store, *, tasks: int, messages: int) -> dict[str, float]:
    """``tasks`` concurrent senders, each awaiting its ack before sending the next."""
    customer, conversation_ids = await _setup(store, conversations=10)
    per_task = messages // tasks
    latencies: list[float] = []

    async def sender(index: int) -> None:
        conversation_id = conversation_ids[index % len(conversation_ids)]
        for n in range(per_task):
            draft = MessageDraft(
                conversation_id, customer.as_sender(), Content(text=f"m{n}"), client_msg_id=f"{index}-{n}"
            )
            started = time.perf_counter()
            await store.append_message(draft)
            latencies.append(time.perf_counter() - started)

    before = store.statistics()
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(tasks):
            nursery.start_soon(sender, index)
    elapsed = time.perf_counter() - started
    after = store.statistics()
    latencies.sort()
    batches = after.batches - before.batches
    return {
        "appends_per_s": len(latencies) / elapsed,
        "ack_p50_ms": latencies[len(latencies) // 2] * 1000,
        "ack_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "mean_batch": (after.jobs - before.jobs) / max(batches, 1),
    }


def fill_sqlite(path: pathlib.Path, conversation_ids: list[str], rows: int, sender: User) -> None:
    """Insert ``rows`` messages spread over the conversations with ``executemany``."""
    per_conversation = rows // len(conversation_ids)
    stamp = sqlite_timestamp(utcnow())
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous = OFF")  # a benchmark fixture, not acknowledged writes
    connection.execute("PRAGMA cache_size = -262144")
    with connection:
        for conversation_id in conversation_ids:
            connection.executemany(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, sender_type, sender_name,"
                " content_type, text, attachments, private, created_at)"
                " VALUES (?, ?, ?, ?, 'user', ?, 'text', ?, '[]', 0, ?)",
                (
                    (uuid.uuid4().hex, conversation_id, seq, sender.id, sender.name, f"message {seq}", stamp)
                    for seq in range(1, per_conversation + 1)
                ),
            )
            connection.execute(
                "UPDATE conversations SET last_seq = ? WHERE id = ?", (per_conversation, conversation_id)
            )
    connection.close()


async def bench_history(store: Store, *, rows: int, pages: int = 2000) -> dict[str, float]:
    """Latency of a 50-message page (newest before a random seq) in a table of ``rows`` messages."""
    customer, conversation_ids = await _setup(store, conversations=100)
    assert store.target.path is not None
    started = time.perf_counter()
    await trio.to_thread.run_sync(fill_sqlite, store.target.path, conversation_ids, rows, customer)
    fill_seconds = time.perf_counter() - started
    per_conversation = rows // len(conversation_ids)
    latencies, in_thread = [], []

    def timed_page(db: Any, conversation_id: str, before: int) -> list[Message]:
        started = time.perf_counter()
        page = messages.history(db, conversation_id, before_seq=before, limit=50)
        in_thread.append(time.perf_counter() - started)
        return page

    for _ in range(pages):
        conversation_id = random.choice(conversation_ids)
        before = random.randint(51, per_conversation)
        started = time.perf_counter()
        page = await store.history(conversation_id, before_seq=before, limit=50)
        latencies.append(time.perf_counter() - started)
        assert len(page) == 50 and page[-1].seq == before - 1
        await store._read(timed_page, conversation_id, before)
    return {
        "fill_s": fill_seconds,
        "page_p50_ms": statistics.median(latencies) * 1000,
        "page_p99_ms": sorted(latencies)[int(len(latencies) * 0.99)] * 1000,
        "in_thread_p50_ms": statistics.median(in_thread) * 1000,
    }


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = pathlib.Path(tmp)
        async with Store.from_url(args.url, data_dir=data_dir) as store:
            print("appends:", await bench_appends(store, tasks=args.tasks, messages=args.messages))
        if args.rows and args.url.startswith("sqlite"):
            async with Store.from_url("sqlite:///history.sqlite3", data_dir=data_dir) as store:
                print("history:", await bench_history(store, rows=args.rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="sqlite:///bench.sqlite3")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    trio.run(main, parser.parse_args())
