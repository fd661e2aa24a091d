"""Work that one node of the cluster does at a time: leases held, renewed and fenced.

:class:`Cluster` (``app.cluster``) is this node's handle on the leases kept in the database
(:mod:`qandu.storage.leases`):

- :meth:`Cluster.exclusive` runs a piece of work while this node holds a lease, waiting for
  it if another node has it (the routing drain: one decision-maker at a time);
- :meth:`Cluster.run_singleton` keeps a service running on exactly one node: every node
  contends, the holder runs it, and when the holder stops renewing (it died, or lost the
  database) the service is cancelled there and another node starts it once the lease ran out.

A holder renews every third of the lease's time to live (``ttl``) and counts the lease as
its own only until ``ttl`` after the last renewal it *sent*; past that the work is cancelled,
even if the database is unreachable.  Expiry compares the nodes' wall clocks (keep them in
sync with NTP); the fencing token covers what a clock cannot: :meth:`Lease.write` runs a
writer job only if the token is still current, in the same transaction.  On SQLite (one
node) the lease is simply always free for that node.
"""

from __future__ import annotations

import inspect
import logging
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from qandu.storage import leases
from qandu.storage.leases import LeaseLost

if TYPE_CHECKING:
    from qandu.storage.store import Store

log = logging.getLogger("qandu.cluster")

T = TypeVar("T")

#: Seconds a lease lasts without renewal: how long a dead holder's work waits for another node.
TTL = 15.0
#: Seconds between attempts while :meth:`Cluster.exclusive` waits for a busy lease.
EXCLUSIVE_POLL = 0.1

__all__ = ["TTL", "Cluster", "Lease", "LeaseLost", "accepts_lease", "default_node_id"]


def default_node_id(name: str = "") -> str:
    """``name:pid:random`` (``name``: the host's by default): unique per process, readable in
    the ``cluster_leases`` table."""
    return f"{name or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    """This node's hold on one lease: its fencing token, and until when it surely holds it."""

    def __init__(self, cluster: Cluster, name: str, token: int, valid_until: float) -> None:
        self.cluster = cluster
        self.name = name
        self.token = token
        self.valid_until = valid_until
        """``trio.current_time()`` past which the lease may belong to another node."""
        self.lost = trio.Event()
        """Set once this node no longer holds the lease (refused, run out, or the hold ended)."""

    @property
    def valid(self) -> bool:
        """Whether this node still holds the lease (renewed in time, never refused)."""
        return not self.lost.is_set() and trio.current_time() < self.valid_until

    def check(self) -> None:
        """Raise :class:`LeaseLost` unless the lease is :attr:`valid`: call it before acting."""
        if not self.valid:
            raise LeaseLost(f"lease {self.name!r} (token {self.token}) is no longer held by this node")

    async def write(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in the store's writer, fenced by this lease's token.

        Raises :class:`LeaseLost` (and writes nothing) if another node has taken the lease.
        """
        self.check()
        return await self.cluster.store.run_write(_fenced, self.name, self.token, fn, args, kwargs)


def _fenced(db: Any, name: str, token: int, fn: Callable[..., T], args: tuple[Any, ...], kwargs: Any) -> T:
    leases.check_token(db, name, token)
    return fn(db, *args, **kwargs)


class Cluster:
    """Leases of one node (``app.cluster``); ``node`` is its holder id, ``ttl`` the lease length."""

    def __init__(self, store: Store, *, node: str | None = None, ttl: float = TTL) -> None:
        self.store = store
        self.node = node or default_node_id()
        self.ttl = ttl
        self._local: defaultdict[str, trio.Lock] = defaultdict(trio.Lock)

    # -- one lease ---------------------------------------------------------------------------

    async def try_acquire(self, name: str) -> Lease | None:
        """Take lease ``name`` if it is free (or expired); ``None`` if another node holds it.

        Use it through :meth:`exclusive` or :meth:`run_singleton`, which renew and release it.
        """
        sent = trio.current_time()
        grant = await self.store.run_write(leases.acquire, name, self.node, now=time.time(), ttl=self.ttl)
        return None if grant is None else Lease(self, name, grant.token, sent + self.ttl)

    async def holder(self, name: str) -> leases.Grant | None:
        """Who holds (or last held) lease ``name``, with its token and expiry."""
        return await self.store.run_read(leases.current, name)

    async def exclusive(self, name: str, fn: Callable[[Lease], Awaitable[T]]) -> T:
        """Run ``await fn(lease)`` while this node holds lease ``name``; wait for it if it is busy.

        Raises :class:`LeaseLost` if the lease is lost before ``fn`` finished (``fn`` is
        cancelled then); errors of ``fn`` propagate after the lease is released.
        """
        async with self._local[name]:
            while (lease := await self.try_acquire(name)) is None:
                await trio.sleep(EXCLUSIVE_POLL)
            return await self._holding(lease, fn)

    async def run_singleton(
        self,
        name: str,
        run: Callable[[Lease], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run ``await run(lease)`` on exactly one node at a time, taking over when the holder dies.

        Started at once (this node may only stand by).  When the lease is lost, ``run`` is
        cancelled and this node contends again; when ``run`` returns or raises, this node
        lets the lease go and stops (the error propagates), so another node takes over.
        """
        task_status.started()
        async with self._local[name]:
            while True:
                lease = await self._contend(name)
                log.info("node %s runs %s (fencing token %d)", self.node, name, lease.token)
                try:
                    await self._holding(lease, run)
                    return
                except LeaseLost:
                    log.warning("node %s lost lease %s and stopped its work; contending", self.node, name)

    # -- internals ---------------------------------------------------------------------------

    async def _contend(self, name: str) -> Lease:
        """Wait until this node gets lease ``name`` (storage errors are logged and retried)."""
        while True:
            try:
                lease = await self.try_acquire(name)
            except Exception as exc:
                log.warning("cannot ask for lease %s (%s); retrying", name, exc)
                lease = None
            if lease is not None:
                return lease
            await trio.sleep(self.ttl / 3)

    async def _holding(self, lease: Lease, fn: Callable[[Lease], Awaitable[T]]) -> T:
        """Run ``fn(lease)`` while renewing the lease; release it afterwards."""
        failure: Exception | None = None
        finished, result = False, None
        try:
            async with trio.open_nursery() as nursery:
                work = trio.CancelScope()
                nursery.start_soon(self._keep, lease, work)
                with work:
                    try:
                        result = await fn(lease)
                        finished = True
                    except Exception as exc:  # re-raised below, outside the nursery's exception group
                        failure = exc
                nursery.cancel_scope.cancel()
        finally:
            lost = lease.lost.is_set()
            lease.lost.set()  # the hold is over: the Lease object is no longer valid
            await self._release(lease)
        if failure is not None:
            raise failure
        if not finished or lost:
            raise LeaseLost(f"lease {lease.name!r} was lost while its work ran")
        return result  # type: ignore[return-value]

    async def _keep(self, lease: Lease, work: trio.CancelScope) -> None:
        """Renew the lease until cancelled; once it runs out or is refused, cancel ``work``."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._renew, lease)
            while not lease.lost.is_set() and trio.current_time() < lease.valid_until:
                with trio.move_on_at(lease.valid_until):  # renewals push valid_until on
                    await lease.lost.wait()
            lease.lost.set()
            work.cancel()
            nursery.cancel_scope.cancel()

    async def _renew(self, lease: Lease) -> None:
        """Renew every ``ttl / 3`` (storage errors: retry soon); a refusal marks the lease lost."""
        pause = self.ttl / 3
        while True:
            await trio.sleep(pause)
            sent = trio.current_time()
            try:
                grant = await self.store.run_write(
                    leases.renew, lease.name, self.node, lease.token, now=time.time(), ttl=self.ttl
                )
            except Exception as exc:
                log.warning("renewing lease %s failed (%s); retrying", lease.name, exc)
                pause = min(1.0, self.ttl / 10)
                continue
            if grant is None:
                lease.lost.set()
                return
            lease.valid_until = sent + self.ttl
            pause = self.ttl / 3

    async def _release(self, lease: Lease) -> None:
        """Let the lease go now, so another node need not wait for it to run out."""
        with trio.CancelScope(shield=True):
            try:
                await self.store.run_write(leases.release, lease.name, self.node, lease.token)
            except Exception as exc:  # the store is closing or away: the lease runs out by itself
                log.info("could not release lease %s (%s); it runs out by itself", lease.name, exc)


def accepts_lease(run: Callable[..., Any]) -> bool:
    """Whether a service's ``run`` takes a ``lease`` keyword (or ``**kwargs``)."""
    parameters = inspect.signature(run).parameters.values()
    return any(p.name == "lease" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
