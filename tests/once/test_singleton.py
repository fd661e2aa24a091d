"""Cluster leases on two nodes: exclusive work, singleton services, takeover and fencing."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
import trio

from qandu.app import serve
from qandu.cluster import Cluster, Lease, LeaseLost
from qandu.plugins import Service, hookimpl
from qandu.storage import leases, parse_url, users
from qandu.testing import until
from tests.once.conftest import Node, opened

TIMEOUT = 30


async def _steal(node: Node, name: str) -> leases.Grant | None:
    """Take lease ``name`` for ``node`` as if its holder's time had run out (an hour from now)."""
    return await node.app.store.run_write(
        leases.acquire, name, node.app.cluster.node, now=time.time() + 3600, ttl=60
    )


def _create_user(db: Any, name: str) -> None:
    users.create_user(db, kind="user", role="customer", name=name)


async def _user_names(node: Node) -> list[str]:
    return [user.name for user in await node.app.store.list_users("customer")]


async def test_exclusive_work_runs_on_one_node_at_a_time_and_releases_the_lease(nodes):
    a, b = nodes()
    active, peak, ran = [0], [0], []
    held: list[Lease] = []

    async def work(node: Node, lease: Lease) -> int:
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        try:
            for _ in range(5):
                await trio.lowlevel.checkpoint()
                await node.app.store.run_read(leases.current, "job")  # real I/O while holding it
            ran.append(node.name)
            held.append(lease)
            return lease.token
        finally:
            active[0] -= 1

    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            tokens: list[int] = []

            async def run(node: Node) -> None:
                tokens.append(await node.app.cluster.exclusive("job", lambda lease: work(node, lease)))

            async with trio.open_nursery() as nursery:
                for node in (a, b, a, b):
                    nursery.start_soon(run, node)

            assert peak[0] == 1
            assert sorted(ran) == ["a", "a", "b", "b"]
            assert sorted(tokens) == [1, 2, 3, 4]  # every grant a new fencing token
            assert not any(lease.valid for lease in held)  # a hold that ended is over
            grant = await a.app.cluster.holder("job")
            assert grant is not None and grant.token == 4 and grant.expires_at == 0  # released


async def test_a_stale_holder_is_fenced_out(nodes):
    a, b = nodes()
    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            stale = await a.app.cluster.try_acquire("job")
            assert stale is not None
            await stale.write(_create_user, "written by a")
            assert await b.app.cluster.try_acquire("job") is None  # held

            grant = await _steal(b, "job")  # a's lease ran out (by the database's reckoning)
            assert grant is not None and grant.token == stale.token + 1
            assert stale.valid  # node a has not noticed yet...
            with pytest.raises(LeaseLost):
                await stale.write(_create_user, "stale write")  # ...but its write is refused
            assert await _user_names(a) == ["written by a"]


async def test_losing_the_lease_cancels_the_work(nodes):
    a, b = nodes()
    a.app.cluster.ttl = 0.9  # renewals every 0.3 s
    started, cancelled = trio.Event(), []

    async def forever(lease: Lease) -> None:
        started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.append(lease.token)
            raise

    with trio.fail_after(TIMEOUT):
        async with opened(a, b):
            async with trio.open_nursery() as nursery:
                outcome: list[BaseException] = []

                async def hold() -> None:
                    try:
                        await a.app.cluster.exclusive("job", forever)
                    except LeaseLost as error:
                        outcome.append(error)

                nursery.start_soon(hold)
                await started.wait()
                await _steal(b, "job")
            # hold() returned: the next renewal was refused
            assert cancelled == [1]
            assert len(outcome) == 1


@pytest.mark.parametrize("shutdown", ["graceful", "killed"])
async def test_a_singleton_moves_to_the_other_node_when_its_holder_stops(nodes, shutdown):
    a, b = nodes()
    for node in (a, b):
        node.app.cluster.ttl = 3.0  # renewals every second
    runs: list[tuple[str, int]] = []
    stopped: list[str] = []

    def service(node: Node) -> Any:
        async def run(lease: Lease) -> None:
            runs.append((node.name, lease.token))
            try:
                await trio.sleep_forever()
            finally:
                stopped.append(node.name)

        return run

    with trio.fail_after(TIMEOUT):
        async with opened(a, b), trio.open_nursery() as nursery:
            scopes = {}
            for node in (a, b):
                scopes[node.name] = trio.CancelScope()

                async def contend(node: Node = node) -> None:
                    with scopes[node.name]:
                        await node.app.cluster.run_singleton("service:test", service(node))

                nursery.start_soon(contend)
            await until(lambda: _wait(runs))
            [(first, token)] = runs
            holder, other = (a, b) if first == "a" else (b, a)
            grant = await other.app.cluster.holder("service:test")
            assert grant is not None and grant.holder == holder.app.cluster.node

            if shutdown == "killed":  # no release: the lease has to run out
                await holder.app.store.aclose()
                await until(lambda: _wait(stopped), timeout=TIMEOUT)  # its renewals fail: it stops
            scopes[holder.name].cancel()
            await until(lambda: _wait(len(runs) == 2), timeout=TIMEOUT)

            assert runs == [(holder.name, token), (other.name, token + 1)]
            assert stopped == [holder.name]
            nursery.cancel_scope.cancel()


async def _wait(value: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return value


async def test_a_fenced_write_finishes_before_a_takeover_on_postgresql(nodes, db_url, tmp_path):
    if db_url.startswith("sqlite"):
        pytest.skip("the share lock on the lease row is PostgreSQL's (SQLite has one writer)")
    a, b = nodes()
    target = parse_url(db_url, data_dir=tmp_path)
    observer = psycopg.connect(target.conninfo or "", autocommit=True)
    inside, proceed = threading.Event(), threading.Event()

    def slow_write(db: Any) -> None:
        _create_user(db, "fenced")
        inside.set()
        proceed.wait(10)

    try:
        with trio.fail_after(TIMEOUT):
            async with opened(a, b):
                lease = await a.app.cluster.try_acquire("job")
                assert lease is not None
                b_writer = await b.app.store.run_write(
                    lambda db: db.sql("SELECT pg_backend_pid()").fetchone()[0]
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(lease.write, slow_write)
                    await trio.to_thread.run_sync(inside.wait, 10)
                    taken: list[leases.Grant | None] = []

                    async def take() -> None:
                        taken.append(await _steal(b, "job"))

                    nursery.start_soon(take)
                    query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s"
                    while observer.execute(query, (b_writer,)).fetchone()[0] != "Lock":  # type: ignore[index]
                        await trio.sleep(0.005)
                    assert taken == []  # the takeover waits for the fenced transaction
                    proceed.set()
                assert taken[0] is not None and taken[0].token == lease.token + 1
                assert await _user_names(a) == ["fenced"]
                with pytest.raises(LeaseLost):
                    await lease.write(_create_user, "too late")
    finally:
        proceed.set()
        observer.close()


class Singleton:
    """A plugin with a singleton service that records where it runs."""

    def __init__(self, name: str, runs: list[tuple[str, int]]) -> None:
        self.name = name
        self.runs = runs

    @hookimpl
    def qandu_register_services(self, app: Any) -> list[Service]:
        return [Service("recorder", self._run, singleton=True)]

    async def _run(self, app: Any, *, lease: Lease, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        self.runs.append((self.name, lease.token))
        await trio.sleep_forever()


async def test_a_plugin_singleton_service_runs_on_one_of_two_servers(nodes):
    runs: list[tuple[str, int]] = []
    a, b = nodes(plugins=lambda name: {"singleton": Singleton(name, runs)})
    for node in (a, b):
        node.app.cluster.ttl = 3.0  # renewals every second
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            stop_a = trio.CancelScope()

            async def serve_a(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
                with stop_a:
                    await serve(a.app, task_status=task_status)

            await nursery.start(serve_a)
            await until(lambda: _wait(runs))
            await nursery.start(serve, b.app)
            grant = await b.app.cluster.holder("service:recorder")
            assert grant is not None and grant.holder == "node-a"
            assert await b.app.cluster.try_acquire("service:recorder") is None
            assert runs == [("a", 1)]

            stop_a.cancel()  # a shuts down and lets go: b takes over
            await until(lambda: _wait(len(runs) == 2))
            assert runs == [("a", 1), ("b", 2)]
            nursery.cancel_scope.cancel()


def test_a_cluster_has_a_readable_unique_node_id(tmp_path):
    from qandu.storage import Store

    store = Store.from_url("sqlite:///x.sqlite3", data_dir=tmp_path)
    first, second = Cluster(store), Cluster(store)
    assert first.node != second.node
    assert first.node.split(":")[1].isdigit()  # host:pid:random
