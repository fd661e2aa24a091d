"""Scenario 4: a 50-message history page in a SQLite store of 1M messages.

The store is built once through QanDu's own schema (``Store`` opens it and runs the
migrations; the users and conversations are created with the store API), then filled with
raw ``executemany`` inserts, and cached as ``benchmarks/results/history-v<schema>-<rows>.sqlite3``.
Each measurement runs on a fresh copy of it.

Three figures, the same random (conversation, before) pages for each:

- ``GET /api/chat/history/{id}?limit=50&before=<seq>`` over HTTP against ``qandu serve``
  (an agent's bearer token; keep-alive connection, one request at a time), and ``GET /healthz``
  on the same connection as the floor of the HTTP stack and client;
- ``Store.history`` called in-process (what the HTTP handler spends in storage);
- the baseline: the same keyset query with the raw ``sqlite3`` module on the same file.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import trio

from benchmarks.loadgen import AGENT_PASSWORD, agent_email
from benchmarks.servers import REPO, start_qandu
from benchmarks.stats import Latency

RESULTS = REPO / "benchmarks" / "results"
CONVERSATIONS = 100
PAGE = 50
FORMAT = 2
"""Bump when the way the store is built changes, to rebuild cached files."""

KEYSET = "SELECT * FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?"

Progress = Callable[[int], None]


@dataclass
class HistoryResult:
    rows: int
    built_seconds: float | None
    """Time to build the store, or None when the cached file was used."""
    http: Latency
    http_floor: Latency
    """``GET /healthz`` on the same connection: the HTTP stack and client, no storage."""
    http_server_cpu_ms: float
    """QanDu's CPU time per history request, in ms."""
    store: Latency
    raw_sqlite: Latency
    pages: int
    file_mb: float


def cache_path(rows: int) -> Path:
    from qandu.storage import LATEST_VERSION

    return RESULTS / f"history-v{LATEST_VERSION}-f{FORMAT}-{rows}.sqlite3"


def ensure_store(rows: int, progress: Progress | None = None) -> tuple[Path, float | None]:
    """The cached store file with ``rows`` messages, built now if missing."""
    path = cache_path(rows)
    if path.exists():
        if progress is not None:
            progress(rows)
        return path, None
    started = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(f".building-{uuid.uuid4().hex[:6]}")
    building.mkdir()
    try:
        database = building / "qandu.sqlite3"
        conversation_ids, sender = trio.run(_create_schema, building)
        _fill(database, conversation_ids, sender, rows, progress)
        database.rename(path)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _prune(keep_prefix=path.name.rsplit("-", 1)[0])
    return path, time.perf_counter() - started


def _prune(keep_prefix: str) -> None:
    """Delete cached stores of other schema versions or build formats (they are hundreds of MB)."""
    for stale in RESULTS.glob("history-v*-f*-*.sqlite3"):
        if not stale.name.startswith(keep_prefix + "-"):
            stale.unlink(missing_ok=True)


async def _create_schema(data_dir: Path) -> tuple[list[str], tuple[str, str]]:
    """Migrate, then create one agent (who reads the pages), one customer and the conversations."""
    from qandu.auth import hash_password
    from qandu.storage import Store

    async with Store.from_url("sqlite:///qandu.sqlite3", data_dir=data_dir) as store:
        await store.create_user(
            kind="agent",
            role="support",
            name="History reader",
            email=agent_email(0),
            password_hash=hash_password(AGENT_PASSWORD),
        )
        customer = await store.create_user(kind="user", role="customer", name="Long-time customer")
        ids = []
        for _ in range(CONVERSATIONS):
            conversation = await store.create_conversation(customer=customer, bot_user=None)
            ids.append(conversation.id)
    return ids, (customer.id, customer.name)


def _fill(
    database: Path, conversation_ids: list[str], sender: tuple[str, str], rows: int, progress: Progress | None
) -> None:
    """Insert ``rows`` messages, spread evenly over the conversations, in the schema's own columns.

    The conversations are interleaved, as in a real store where they run at the same time:
    the messages of one conversation are scattered over the table, not stored together.
    """
    from qandu.domain import utcnow
    from qandu.storage.fields import sqlite_timestamp

    per_conversation = rows // len(conversation_ids)
    stamp = sqlite_timestamp(utcnow())
    words = [
        "order",
        "parcel",
        "refund",
        "invoice",
        "delivery",
        "address",
        "tracking",
        "return",
        "exchange",
        "voucher",
        "thanks",
    ]
    rng = random.Random(7)
    texts = [" ".join(rng.choices(words, k=rng.randint(3, 14))) for _ in range(97)]
    insert = (
        "INSERT INTO messages (id, conversation_id, seq, client_msg_id, sender_id, sender_type,"
        " sender_name, content_type, text, attachments, private, created_at)"
        " VALUES (?, ?, ?, ?, ?, 'user', ?, 'text', ?, '[]', 0, ?)"
    )
    chunk = max(1, 20_000 // len(conversation_ids))  # seqs per executemany
    connection = sqlite3.connect(database)
    # A fixture being built in a scratch directory, not acknowledged writes: no journal, no
    # fsync (the store's own connections switch the file back to WAL when they open it).
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA locking_mode = EXCLUSIVE")
    connection.execute("PRAGMA cache_size = -524288")
    try:
        with connection:
            for first in range(1, per_conversation + 1, chunk):
                seqs = range(first, min(first + chunk, per_conversation + 1))
                connection.executemany(
                    insert,
                    (
                        (
                            uuid.uuid4().hex,
                            conversation_id,
                            seq,
                            uuid.uuid4().hex,
                            sender[0],
                            sender[1],
                            f"{texts[(seq * 31 + n) % 97]} #{seq}",
                            stamp,
                        )
                        for seq in seqs
                        for n, conversation_id in enumerate(conversation_ids)
                    ),
                )
                if progress is not None:
                    progress(len(seqs) * len(conversation_ids))
            connection.executemany(
                "UPDATE conversations SET last_seq = ? WHERE id = ?",
                [(per_conversation, conversation_id) for conversation_id in conversation_ids],
            )
    finally:
        connection.close()


def _pages(path: Path, count: int, seed: int = 1) -> list[tuple[str, int]]:
    connection = sqlite3.connect(path)
    try:
        conversations = connection.execute("SELECT id, last_seq FROM conversations").fetchall()
    finally:
        connection.close()
    rng = random.Random(seed)
    picked = [rng.choice(conversations) for _ in range(count)]
    return [(cid, rng.randint(PAGE + 1, last + 1)) for cid, last in picked]


def measure_raw(path: Path, pages: list[tuple[str, int]]) -> Latency:
    """The baseline: the keyset query with the raw sqlite3 module (rows fetched, no objects built)."""
    connection = sqlite3.connect(path)
    try:
        for cid, before in pages[:50]:  # warm the page cache like the others
            connection.execute(KEYSET, (cid, before, PAGE)).fetchall()
        latencies = []
        for cid, before in pages:
            started = time.perf_counter()
            rows = connection.execute(KEYSET, (cid, before, PAGE)).fetchall()
            latencies.append(time.perf_counter() - started)
            assert len(rows) == PAGE
    finally:
        connection.close()
    return Latency.of(latencies)


async def measure_store(data_dir: Path, pages: list[tuple[str, int]]) -> Latency:
    """``Store.history`` in-process: the reader thread, the query and the domain objects."""
    from qandu.storage import Store

    latencies = []
    async with Store.from_url("sqlite:///qandu.sqlite3", data_dir=data_dir) as store:
        for cid, before in pages[:50]:
            await store.history(cid, before_seq=before, limit=PAGE)
        for cid, before in pages:
            started = time.perf_counter()
            page = await store.history(cid, before_seq=before, limit=PAGE)
            latencies.append(time.perf_counter() - started)
            assert len(page) == PAGE and page[-1].seq == before - 1
    return Latency.of(latencies)


async def measure_http(
    http_url: str, pages: list[tuple[str, int]], progress: Progress | None, server_cpu: Callable[[], float]
) -> tuple[Latency, Latency, float]:
    """``GET /api/chat/history/{id}?limit=50&before=...`` one at a time over one keep-alive connection.

    Also returns the latency of ``GET /healthz`` over the same connection, as the floor, and
    the server's CPU time per history request in ms (``server_cpu()`` reads its CPU seconds).
    """
    latencies, floor = [], []
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as http:
        login = await http.post("/api/auth/login", json={"email": agent_email(0), "password": AGENT_PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}

        async def page(cid: str, before: int) -> None:
            response = await http.get(
                f"/api/chat/history/{cid}", params={"limit": PAGE, "before": before}, headers=headers
            )
            response.raise_for_status()
            messages = response.json()["messages"]
            assert len(messages) == PAGE and messages[-1]["seq"] == before - 1

        for cid, before in pages[:50]:
            await page(cid, before)
        cpu = server_cpu()
        for cid, before in pages:
            started = time.perf_counter()
            await page(cid, before)
            latencies.append(time.perf_counter() - started)
            if progress is not None:
                progress(1)
        cpu_ms = (server_cpu() - cpu) / len(pages) * 1000
        for _ in pages:
            started = time.perf_counter()
            (await http.get("/healthz")).raise_for_status()
            floor.append(time.perf_counter() - started)
    return Latency.of(latencies), Latency.of(floor), cpu_ms


def measure(
    workdir: Path,
    *,
    rows: int,
    pages: int,
    build_progress: Progress | None = None,
    page_progress: Progress | None = None,
    profile: Path | None = None,
    plugins: str = "none",
) -> HistoryResult:
    cached, built = ensure_store(rows, build_progress)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "qandu.sqlite3"
    shutil.copyfile(cached, database)
    plan = _pages(database, pages)

    raw = measure_raw(database, plan)
    store = trio.run(measure_store, data_dir, plan)
    server = start_qandu(workdir, profile=profile, plugins=plugins)
    try:
        assert server.http_url is not None
        http, floor, http_cpu_ms = trio.run(
            measure_http, server.http_url, plan, page_progress, server.cpu_seconds
        )
    finally:
        server.stop()
    return HistoryResult(
        rows=rows,
        built_seconds=built,
        http=http,
        http_floor=floor,
        http_server_cpu_ms=http_cpu_ms,
        store=store,
        raw_sqlite=raw,
        pages=pages,
        file_mb=cached.stat().st_size / 1e6,
    )
