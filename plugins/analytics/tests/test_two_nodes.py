"""Several nodes flush analytics into one PostgreSQL: a batch takes its rows in one order (no
deadlocks), and batches changing the same ten minutes leave cells that hold all of them."""

from __future__ import annotations

import psycopg
import pytest
import trio

from qandu.storage import Store, parse_url
from qandu.testing import make_app, postgres_schema, running, until
from qandu_analytics import Analytics, AnalyticsConfig, cells
from qandu_analytics.recorder import EventRecord, apply_batch
from qandu_analytics.schema import MIGRATIONS

TIMEOUT = 20
ROW = "SELECT 1 FROM analytics_conversations WHERE conversation_id = %s"


@pytest.fixture
def pg_url():
    """A fresh schema on the machine's PostgreSQL (the test skips without one, fails under CI)."""
    with postgres_schema("qandu_analytics") as url:
        yield url


@pytest.fixture
def side(pg_url, tmp_path):
    """Two more sessions on the schema: one to hold row locks, one to watch the writers wait."""
    target = parse_url(pg_url, data_dir=tmp_path)
    connect = f"-c search_path={target.schema}"
    sessions = [psycopg.connect(target.conninfo or "", options=connect, autocommit=True) for _ in range(2)]
    yield sessions
    for session in sessions:
        session.close()


def _assigned(cid: str) -> EventRecord:
    return EventRecord("conversation.assigned", cid, 1.0, {"agentId": "a1"})


async def test_a_batch_locks_its_conversation_rows_in_id_order(pg_url, tmp_path, side):
    """Its events touch c2 then c1; it takes c1 first, so while c1 is busy elsewhere c2 stays free."""
    locker, observer = side
    with trio.fail_after(TIMEOUT):
        async with Store.from_url(pg_url, data_dir=tmp_path) as store:
            await store.migrate_plugin("analytics", MIGRATIONS)
            await store.run_write(
                apply_batch, [EventRecord("conversation.started", c, 0.0, {}) for c in ("c1", "c2")]
            )
            writer = await store.run_write(lambda db: db.sql("SELECT pg_backend_pid()").fetchone()[0])
            locker.execute("BEGIN")
            locker.execute("SELECT 1 FROM analytics_conversations WHERE conversation_id = 'c1' FOR UPDATE")
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(store.run_write, apply_batch, [_assigned("c2"), _assigned("c1")])
                    query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
                    while observer.execute(query, (writer,)).fetchone()[0] != "Lock":  # type: ignore[index]
                        await trio.sleep(0.005)
                    with observer.transaction():  # c2 is not locked by the waiting batch
                        observer.execute(f"{ROW} FOR UPDATE NOWAIT", ("c2",))
                    locker.execute("COMMIT")
            finally:
                if locker.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    locker.execute("ROLLBACK")
            rows = await store.run_read(
                lambda db: db.sql(
                    "SELECT agent_id FROM analytics_conversations ORDER BY conversation_id"
                ).fetchall()
            )
            assert [row[0] for row in rows] == ["a1", "a1"]


def _cells(db):
    return sorted(db.sql("SELECT kind, slot, n FROM analytics_cells").fetchall())


async def test_batches_refreshing_one_cell_at_once_lose_nothing(pg_url, tmp_path, side):
    """Two nodes' batches both wait for a cell another transaction holds; once it is free, the
    second refresh must include the first batch's conversations (it reads after the lock)."""
    at = 1_740_009_600.0

    def started(name):
        return [
            EventRecord("conversation.started", f"{name}{n}", at + n, {"bot": "support"}) for n in range(10)
        ]

    locker, observer = side
    with trio.fail_after(TIMEOUT):
        async with (
            Store.from_url(pg_url, data_dir=tmp_path / "a") as one,
            Store.from_url(pg_url, data_dir=tmp_path / "b") as two,
        ):
            await one.migrate_plugin("analytics", MIGRATIONS)
            await two.migrate_plugin("analytics", MIGRATIONS)
            await one.run_write(apply_batch, started("first"))
            writers = [
                await store.run_write(lambda db: db.sql("SELECT pg_backend_pid()").fetchone()[0])
                for store in (one, two)
            ]
            locker.execute("BEGIN")
            locker.execute("SELECT 1 FROM analytics_cells FOR UPDATE")
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(one.run_write, apply_batch, started("a"))
                    nursery.start_soon(two.run_write, apply_batch, started("b"))
                    query = (
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE pid = ANY(%s) AND wait_event_type = 'Lock'"
                    )
                    while observer.execute(query, (writers,)).fetchone()[0] != 2:  # type: ignore[index]
                        await trio.sleep(0.005)
                    locker.execute("COMMIT")
            finally:
                if locker.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    locker.execute("ROLLBACK")
            kept = await one.run_read(_cells)
            assert kept == [("started", 1740009600, 30)]
            await one.run_write(cells.rebuild)
            assert await one.run_read(_cells) == kept


async def test_one_node_prunes_the_event_log(pg_url, tmp_path):
    async with Store.from_url(pg_url, data_dir=tmp_path) as store:  # an old log, before the nodes start
        await store.migrate_plugin("analytics", MIGRATIONS)
        await store.run_write(apply_batch, [_assigned(f"c{n}") for n in range(3)])  # at 1970-01-01
    plugins = [Analytics(AnalyticsConfig(event_log_days=1, flush_interval=0.1)) for _ in range(2)]
    apps = [
        make_app(tmp_path / name, plugins={"analytics": plugin}, storage={"url": pg_url})
        for name, plugin in zip("ab", plugins, strict=True)
    ]
    with trio.fail_after(TIMEOUT):
        async with running(apps[0]), running(apps[1]):
            await until(lambda: _settled(plugins))
            grant = await apps[0].cluster.holder("service:analytics-retention")
            holder = [app.cluster.node for app in apps].index(grant.holder)
            assert [plugin.pruned for plugin in plugins] == [3 if n == holder else 0 for n in range(2)]


async def _settled(plugins):
    await trio.lowlevel.checkpoint()
    return sum(plugin.pruned for plugin in plugins) == 3
